"""colorize_runtime: colourise photos with the colorize ONNX model. Needs numpy, OpenCV, Pillow and onnxruntime."""
__version__ = "0.1.0"

__all__ = ["Colorizer", "ColorizeError", "colorize", "__version__"]


def __getattr__(name: str):
    """The Colorizer is imported on first use, so that `colorize-run --version` and `--help` start without
    loading onnxruntime and OpenCV."""
    if name in ("Colorizer", "ColorizeError", "colorize"):
        from colorize_runtime import colorizer
        return getattr(colorizer, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
