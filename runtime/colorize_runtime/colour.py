"""The colour contract shared by training, export and the runtime.

One place decides how a photo becomes network input and how the network output becomes a photo:

* BGR uint8 -> float32 in [0, 1] -> ``cv2.cvtColor(COLOR_BGR2Lab)``: OpenCV's float conversion, sRGB
  primaries, D65 white, sRGB gamma; L in [0, 100], a/b roughly in [-110, 110].
* network input  ``L_norm = (L - L_CENTER) / L_SCALE``            (so L_norm is in [-1, 1])
* network output ``ab = ab_norm * AB_SCALE``                     (ab_norm is about [-1, 1])

A gray photo is L only: gray level g is treated as the BGR pixel (g, g, g).
The export writes :func:`contract_metadata` into the ONNX file; the runtime reads it back from there.
This module must stay free of torch: train/ and export/ import it from here.
"""
from __future__ import annotations

import cv2
import numpy as np

COLOUR_SPACE = "CIELAB (OpenCV float32 cvtColor: sRGB, D65, L 0..100)"
L_CENTER = 50.0
L_SCALE = 50.0
AB_SCALE = 110.0
WINDOW = 256
STRIP_PIXELS = 1 << 18  # conversions of large photos run in row strips of about this many pixels


def contract_metadata() -> dict:
    """The contract as it is stored in the ONNX metadata (key ``colour_contract``)."""
    return {
        "colour_space": COLOUR_SPACE,
        "input": "L_norm = (L - L_center) / L_scale",
        "output": "ab = ab_norm * ab_scale",
        "L_center": L_CENTER,
        "L_scale": L_SCALE,
        "ab_scale": AB_SCALE,
        "window": WINDOW,
        "gray_input": "gray level g is the BGR pixel (g, g, g)",
    }


def bgr_to_lab(bgr: np.ndarray) -> np.ndarray:
    """BGR uint8 (H, W, 3) -> float32 Lab (H, W, 3)."""
    return cv2.cvtColor(bgr.astype(np.float32) * np.float32(1 / 255), cv2.COLOR_BGR2Lab)


def gray_to_lightness(gray: np.ndarray) -> np.ndarray:
    """Gray uint8 (H, W) -> float32 L (H, W), exactly as bgr_to_lab of (g, g, g), via a 256-entry table."""
    return cv2.LUT(np.ascontiguousarray(gray), _GRAY_TO_L)


def _row_strips(height: int, width: int):
    """Row slices of about STRIP_PIXELS each: per-strip float temporaries stay small and in cache, so a large
    photo costs one output array, not several full-size float copies."""
    rows = max(1, STRIP_PIXELS // max(1, width))
    return (slice(top, min(top + rows, height)) for top in range(0, height, rows))


def lightness(image: np.ndarray) -> np.ndarray:
    """L (float32, H x W) of a gray (H, W) or BGR (H, W, 3) uint8 image; the same values as bgr_to_lab."""
    if image.ndim == 2:
        return gray_to_lightness(image)
    height, width = image.shape[:2]
    plane = np.empty((height, width), np.float32)
    for rows in _row_strips(height, width):
        plane[rows] = bgr_to_lab(image[rows])[..., 0]
    return plane


_OUTPUT_DEPTHS = {np.dtype(np.uint8): (255.0, cv2.CV_8U), np.dtype(np.uint16): (65535.0, cv2.CV_16U)}


def lab_to_bgr(lightness_plane: np.ndarray, ab: np.ndarray, dtype=np.uint8) -> np.ndarray:
    """L (H, W) and ab (H, W, 2) float32 -> BGR (H, W, 3) of dtype uint8 or uint16 (for photos that came in with
    16 bits), rounded to nearest and saturated, in row strips."""
    height, width = lightness_plane.shape
    white, depth = _OUTPUT_DEPTHS[np.dtype(dtype)]
    bgr = np.empty((height, width, 3), dtype)
    for rows in _row_strips(height, width):
        lab = cv2.merge([np.ascontiguousarray(lightness_plane[rows], np.float32),
                         np.ascontiguousarray(ab[rows], np.float32)])
        cv2.cvtColor(lab, cv2.COLOR_Lab2BGR, dst=lab)
        cv2.multiply(lab, (white,) * 4, dst=bgr[rows], dtype=depth)
    return bgr


def normalise_lightness(lightness_plane: np.ndarray, contract: dict | None = None) -> np.ndarray:
    c = contract or contract_metadata()
    return (lightness_plane - np.float32(c["L_center"])) * np.float32(1 / c["L_scale"])


def denormalise_ab(ab_norm: np.ndarray, contract: dict | None = None) -> np.ndarray:
    c = contract or contract_metadata()
    return ab_norm * np.float32(c["ab_scale"])


_levels = np.arange(256, dtype=np.uint8)
_GRAY_TO_L = bgr_to_lab(np.repeat(_levels[None, :, None], 3, axis=2))[0, :, 0].reshape(1, 256).copy()


def lightness_16bit(image: np.ndarray) -> np.ndarray:
    """L (float32, H x W) of a gray (H, W) or BGR (H, W, 3) uint16 image (65535 is white, as 255 is in uint8).

    Computed with the CIE formulas (sRGB transfer curve, OpenCV's D65 Y weights) rather than cv2.cvtColor, whose
    float conversion has only about 500 distinct L levels: a 16-bit photo keeps its fine tonal steps. It agrees
    with bgr_to_lab within 0.25 L."""
    if image.ndim == 2:
        return _GRAY16_TO_L[image]
    height, width = image.shape[:2]
    plane = np.empty((height, width), np.float32)
    for rows in _row_strips(height, width):
        plane[rows] = _cie_lightness(_SRGB16_TO_LINEAR[image[rows]] @ _Y_WEIGHTS_BGR)
    return plane


def _cie_lightness(luminance: np.ndarray) -> np.ndarray:
    """CIE L* of relative luminance Y (white 1)."""
    return np.where(luminance > 0.008856, 116 * np.cbrt(luminance) - 16, 903.3 * luminance).astype(np.float32)


_levels_16bit = np.arange(65536, dtype=np.float64) / 65535
_SRGB16_TO_LINEAR = np.where(_levels_16bit <= 0.04045, _levels_16bit / 12.92,
                             ((_levels_16bit + 0.055) / 1.055) ** 2.4).astype(np.float32)
_Y_WEIGHTS_BGR = np.array([0.072169, 0.715160, 0.212671], np.float32)
_GRAY16_TO_L = _cie_lightness(_SRGB16_TO_LINEAR)
