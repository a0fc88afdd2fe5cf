"""What Colorizer.colorize takes besides a BGR array, and its result handed back in the same kind.

- a numpy array: gray (H, W), BGR (H, W, 3) or BGRA (H, W, 4), uint8 or uint16, as OpenCV reads it; with rgb=True,
  RGB or RGBA as Pillow, imageio or matplotlib give it (np.asarray of a PIL image), and the result is RGB(A) too;
- a PIL image (any mode Pillow reads photos in): the result is a PIL image, RGB, or RGBA when the input has
  transparency; 16-bit gray comes back as 8-bit RGB (Pillow has no 16-bit colour mode);
- a path (str or os.PathLike) or the bytes of an image file: read as files.read_image reads it (EXIF orientation
  applied, 8 or 16 bits, alpha kept); the result is a numpy array, BGR(A), or RGB(A) with rgb=True.

Anything else raises ColorizeError. Pillow and files.py are imported only for the inputs that need them.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Callable

import numpy as np

from colorize_runtime.errors import ColorizeError

SIXTEEN_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N")
ALPHA_MODES = ("RGBA", "RGBa", "LA", "La", "PA")


def accept(image, rgb: bool = False) -> tuple[np.ndarray, Callable[[np.ndarray], object]]:
    """image -> (gray, BGR or BGRA array to colourise, a function that turns the BGR(A) result into what the
    caller gets back). Raises ColorizeError (files.ImageFileError for a file that cannot be read)."""
    if isinstance(image, np.ndarray):
        return (_swap_red_and_blue(image), _swap_red_and_blue) if rgb else (image, _same)
    pil = sys.modules.get("PIL.Image")  # without Pillow imported, nothing can be a PIL image
    if pil is not None and isinstance(image, pil.Image):
        try:
            return _from_pil(image), _to_pil(pil)
        except (OSError, ValueError) as error:  # a closed image, or a lazily read file that is damaged
            raise ColorizeError(f"cannot read the PIL image: {error}") from None
    if isinstance(image, (str, os.PathLike, bytes, bytearray, memoryview)):
        from colorize_runtime import files

        array = files.decode_image(bytes(image)) if isinstance(image, (bytes, bytearray, memoryview)) \
            else files.read_image(image)
        return array, _swap_red_and_blue if rgb else _same
    raise ColorizeError(f"cannot colourise a {type(image).__module__}.{type(image).__qualname__}: pass a numpy "
                        "array (gray, BGR or BGRA; RGB or RGBA with rgb=True), a PIL image, a file path or the "
                        "bytes of an image file")


def photo(image, rgb: bool = False) -> np.ndarray:
    """accept's array, checked as colorize checks it: gray, BGR or BGRA (RGB or RGBA with rgb), uint8 or uint16,
    at least one pixel. For what reads a photo but gives none back (suggestions, a reference's colours)."""
    array, _ = accept(image, rgb)
    channels = array.shape[2] if array.ndim == 3 else 1
    if array.dtype not in (np.uint8, np.uint16) or array.ndim not in (2, 3) or channels not in (1, 3, 4) \
            or array.size == 0:
        raise ColorizeError(f"expected a gray (H, W), {'RGB' if rgb else 'BGR'} (H, W, 3) or "
                            f"{'RGBA' if rgb else 'BGRA'} (H, W, 4) uint8 or uint16 array with pixels, got "
                            f"{array.dtype} {array.shape}")
    return array


def file_path(value, name: str) -> Path:
    """A file's path as the API takes it (str or os.PathLike), or ColorizeError naming the argument."""
    if not isinstance(value, (str, os.PathLike)):
        raise ColorizeError(f"{name} must be a file path (str or os.PathLike), not {type(value).__name__}")
    return Path(value)


def _same(array: np.ndarray) -> np.ndarray:
    return array


def _swap_red_and_blue(array: np.ndarray) -> np.ndarray:
    """RGB(A) <-> BGR(A); gray and anything colorize refuses pass unchanged (colorize then says what is wrong)."""
    if array.ndim == 3 and array.shape[2] in (3, 4):
        return np.ascontiguousarray(array[..., [2, 1, 0, 3][:array.shape[2]]])
    return array


def _has_alpha(image) -> bool:
    return image.mode in ALPHA_MODES or (image.mode in ("P", "L", "RGB") and "transparency" in image.info)


def _from_pil(image) -> np.ndarray:
    """A PIL image's pixels as colorize takes them: gray as gray (16-bit kept), colour as BGR, alpha as BGRA."""
    if image.mode in SIXTEEN_BIT_MODES:
        return np.asarray(image).astype(np.uint16)
    if image.mode == "I":  # 32-bit integers: what older Pillows give for a 16-bit PNG
        values = np.asarray(image)
        if values.size and (values.min() < 0 or values.max() > 65535):
            raise ColorizeError("a PIL image in mode I with values outside 0-65535 (16 bits) cannot be colourised")
        return values.astype(np.uint16)
    if image.mode == "F":
        raise ColorizeError("a PIL image in mode F (32-bit float) cannot be colourised: convert it to L or RGB")
    if image.mode == "L" and not _has_alpha(image):
        return np.asarray(image)
    return _swap_red_and_blue(np.asarray(image.convert("RGBA" if _has_alpha(image) else "RGB")))


def _to_pil(pil) -> Callable[[np.ndarray], object]:
    def give_back(bgr: np.ndarray):
        if bgr.dtype == np.uint16:  # as files.fit_to_format makes 8 bits of 16
            bgr = (bgr.astype(np.float32) * np.float32(1 / 257) + np.float32(0.5)).astype(np.uint8)
        return pil.fromarray(_swap_red_and_blue(bgr))  # (H, W, 3) uint8: RGB, (H, W, 4): RGBA
    return give_back
