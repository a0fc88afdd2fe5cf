"""colorize_runtime: colourise photos with the colorize ONNX model. Needs numpy, OpenCV and onnxruntime only."""
__version__ = "0.1.0"

from colorize_runtime.colorizer import Colorizer, ColorizeError, colorize

__all__ = ["Colorizer", "ColorizeError", "colorize", "__version__"]
