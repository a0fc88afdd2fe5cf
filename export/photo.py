"""The real photo the export checks its files against."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from colorize_runtime import colour


def centre_window(photo: Path) -> np.ndarray:
    """The centre WINDOW x WINDOW crop of a photo as BGR uint8 (a smaller photo is stretched to the window)."""
    image = cv2.imread(str(photo), cv2.IMREAD_COLOR)
    if image is None:
        raise SystemExit(f"export: {photo}: cannot read the parity photo")
    h, w = image.shape[:2]
    y, x = max(0, (h - colour.WINDOW) // 2), max(0, (w - colour.WINDOW) // 2)
    return cv2.resize(image[y:y + colour.WINDOW, x:x + colour.WINDOW], (colour.WINDOW, colour.WINDOW))
