"""Photos from any folder tree, decoded once into memory, turned into (L, ab) batches by the colour contract."""
from __future__ import annotations

import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np
import torch

from colorize_runtime.colour import bgr_to_lab, normalise_lightness, AB_SCALE

PHOTO_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"}


def find_photos(folder: str | Path) -> list[Path]:
    paths = sorted(p for p in Path(folder).rglob("*") if p.suffix.lower() in PHOTO_SUFFIXES and p.is_file())
    if not paths:
        raise FileNotFoundError(f"{folder}: no photos ({', '.join(sorted(PHOTO_SUFFIXES))}) found")
    return paths


def _decode(path: Path, max_short_side: int) -> np.ndarray | None:
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        print(f"warning: {path}: cannot be decoded, skipped", file=sys.stderr)
        return None
    scale = max_short_side / min(image.shape[:2])
    if scale < 1:
        size = (max(1, round(image.shape[1] * scale)), max(1, round(image.shape[0] * scale)))
        image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    return image


def load_photos(folder: str | Path, max_short_side: int = 256, limit: int | None = None) -> list[np.ndarray]:
    """Decode every photo once (BGR uint8), downscaled so the short side is at most max_short_side."""
    paths = find_photos(folder)[:limit]
    with ThreadPoolExecutor(max_workers=4) as pool:
        images = list(pool.map(lambda p: _decode(p, max_short_side), paths))
    return [im for im in images if im is not None]


def _fit_short_side(image: np.ndarray, short_side: int) -> np.ndarray:
    h, w = image.shape[:2]
    scale = short_side / min(h, w)
    if abs(scale - 1) < 1e-6:
        return image
    size = (max(short_side, round(w * scale)), max(short_side, round(h * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)


def random_crop(image: np.ndarray, crop: int, rng: np.random.Generator) -> np.ndarray:
    """Scale so the short side is uniform in [crop, native short side] (from the whole scene down to native
    detail), take a random crop x crop window, flip horizontally half of the time."""
    short = min(image.shape[:2])
    image = _fit_short_side(image, int(rng.integers(crop, max(crop, short) + 1)))
    y = int(rng.integers(0, image.shape[0] - crop + 1))
    x = int(rng.integers(0, image.shape[1] - crop + 1))
    window = image[y:y + crop, x:x + crop]
    return window[:, ::-1] if rng.random() < 0.5 else window


def centre_crop(image: np.ndarray, crop: int) -> np.ndarray:
    image = _fit_short_side(image, crop)
    y, x = (image.shape[0] - crop) // 2, (image.shape[1] - crop) // 2
    return image[y:y + crop, x:x + crop]


def to_tensors(windows: list[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
    """BGR uint8 windows -> (normalised L [N,1,H,W], normalised ab [N,2,H,W]) float32."""
    lab = np.stack([bgr_to_lab(np.ascontiguousarray(w)) for w in windows])
    lightness = normalise_lightness(lab[..., 0])[:, None]
    ab = lab[..., 1:].transpose(0, 3, 1, 2) * np.float32(1 / AB_SCALE)
    return torch.from_numpy(np.ascontiguousarray(lightness)), torch.from_numpy(np.ascontiguousarray(ab))
