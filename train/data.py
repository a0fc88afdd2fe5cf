"""Photos from any folder tree, decoded once into memory, turned into (L, ab) batches by the colour contract."""
from __future__ import annotations

import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np
import torch

from colorize_runtime.colour import bgr_to_lab, gray_to_lightness, normalise_lightness, AB_SCALE

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


def runtime_view(image: np.ndarray, short_side: int, window: int, rng: np.random.Generator | None = None
                 ) -> tuple[np.ndarray, tuple[int, int]]:
    """What the runtime's network sees of a photo at `--size short_side`: the photo scaled so its short side is
    short_side, cut to at most one window along the long side (a random cut with rng, else the centre; the runtime
    slides several windows there), then mirrored at the bottom and right up to window x window, as
    Colorizer.predict_ab pads. With rng, flipped horizontally half of the time. Returns the window and the
    (height, width) of the photo inside it."""
    image = _fit_short_side(image, short_side)
    h, w = min(image.shape[0], window), min(image.shape[1], window)
    if rng is None:
        y, x = (image.shape[0] - h) // 2, (image.shape[1] - w) // 2
    else:
        y, x = int(rng.integers(0, image.shape[0] - h + 1)), int(rng.integers(0, image.shape[1] - w + 1))
        if rng.random() < 0.5:
            image = image[:, ::-1]
    photo = image[y:y + h, x:x + w]
    return np.pad(photo, ((0, window - h), (0, window - w), (0, 0)), mode="symmetric"), (h, w)


def valid_masks(sizes: list[tuple[int, int]], window: int) -> torch.Tensor:
    """[N, 1, window, window] float32: 1 on each window's photo, 0 on its mirrored padding."""
    masks = torch.zeros(len(sizes), 1, window, window)
    for mask, (h, w) in zip(masks, sizes):
        mask[:, :h, :w] = 1
    return masks


def _gray_photo_lightness(windows: list[np.ndarray]) -> np.ndarray:
    """[N, H, W] float32: the L (0..100) the runtime reads from each window's cv2 BGR2GRAY version."""
    return np.stack([gray_to_lightness(cv2.cvtColor(np.ascontiguousarray(w), cv2.COLOR_BGR2GRAY)) for w in windows])


def to_tensors(windows: list[np.ndarray], lightness_from: str = "colour") -> tuple[torch.Tensor, torch.Tensor]:
    """BGR uint8 windows -> (normalised L [N,1,H,W], normalised ab [N,2,H,W]) float32. The L is the window's own
    (lightness_from="colour") or that of its cv2 BGR2GRAY version ("gray"): what the runtime sees when given the
    gray photo, as the evaluation does."""
    lab = np.stack([bgr_to_lab(np.ascontiguousarray(w)) for w in windows])
    if lightness_from == "gray":
        lab[..., 0] = _gray_photo_lightness(windows)
    elif lightness_from != "colour":
        raise ValueError(f"lightness_from must be 'colour' or 'gray', not {lightness_from!r}")
    lightness = normalise_lightness(lab[..., 0])[:, None]
    ab = lab[..., 1:].transpose(0, 3, 1, 2) * np.float32(1 / AB_SCALE)
    return torch.from_numpy(np.ascontiguousarray(lightness)), torch.from_numpy(np.ascontiguousarray(ab))


def gray_lightness_and_bgr(windows: list[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
    """What a score on RGB needs besides the prediction: the L (0..100) of each window's BGR2GRAY version, from
    which the runtime rebuilds the colours, and the true BGR in [0, 1], both [N, C, H, W] float32."""
    lightness = _gray_photo_lightness(windows)[:, None]
    bgr = np.stack(windows).transpose(0, 3, 1, 2).astype(np.float32) * np.float32(1 / 255)
    return torch.from_numpy(np.ascontiguousarray(lightness)), torch.from_numpy(np.ascontiguousarray(bgr))
