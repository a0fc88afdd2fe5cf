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
    return _GRAY_TO_L[gray]


def lightness(image: np.ndarray) -> np.ndarray:
    """L (float32, H x W) of a gray (H, W) or BGR (H, W, 3) uint8 image."""
    if image.ndim == 2:
        return gray_to_lightness(image)
    return bgr_to_lab(image)[..., 0]


def lab_to_bgr(lightness_plane: np.ndarray, ab: np.ndarray) -> np.ndarray:
    """L (H, W) and ab (H, W, 2) float32 -> BGR uint8 (H, W, 3)."""
    lab = np.concatenate([lightness_plane[..., None], ab], axis=2).astype(np.float32, copy=False)
    bgr = cv2.cvtColor(lab, cv2.COLOR_Lab2BGR)
    return np.clip(bgr * 255.0 + 0.5, 0, 255).astype(np.uint8)


def normalise_lightness(lightness_plane: np.ndarray, contract: dict | None = None) -> np.ndarray:
    c = contract or contract_metadata()
    return (lightness_plane - np.float32(c["L_center"])) * np.float32(1 / c["L_scale"])


def denormalise_ab(ab_norm: np.ndarray, contract: dict | None = None) -> np.ndarray:
    c = contract or contract_metadata()
    return ab_norm * np.float32(c["ab_scale"])


_levels = np.arange(256, dtype=np.uint8)
_GRAY_TO_L = bgr_to_lab(np.repeat(_levels[None, :, None], 3, axis=2))[0, :, 0].copy()
