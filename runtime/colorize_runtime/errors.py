"""The runtime's one exception type, in a module of its own so that reading files needs no onnxruntime."""


class ColorizeError(Exception):
    """A problem the user can fix (bad model, missing provider, bad image); the message says what."""
