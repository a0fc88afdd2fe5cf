"""Quantised ab for the classification head (Zhang, Isola & Efros 2016, "Colorful Image Colorization").

A photo's colours are multimodal (a car may be red or blue): regression predicts their mean, which for many
colours is brown-gray. The classification head instead predicts a distribution over the cells of a 10-unit ab
grid that occur in the training photos, and the distribution is decoded by an annealed mean (softmax of the
logits divided by a temperature T < 1, then the expected ab), which keeps the most likely colour's saturation.

This module finds the cells and their prior on the training photos, the class-rebalancing weights (rare,
saturated colours weigh more, so the gray and brown that dominate photos do not win every pixel), and the
soft encoding of a true ab as its nearest cells with Gaussian weights, as a lookup table over whole ab units.
"""
from __future__ import annotations

import numpy as np
import torch
from scipy.ndimage import gaussian_filter

from colorize_runtime.colour import AB_SCALE, bgr_to_lab

GRID = 10.0            # ab cell size in CIELAB units
AB_LIMIT = 120         # cells centred on -120..120 cover OpenCV's ab range (about -110..110 for sRGB)
SOFT_NEIGHBOURS = 5    # a true ab is encoded on its 5 nearest cells ...
SOFT_SIGMA = 5.0       # ... with Gaussian weights of this width (CIELAB units)
PRIOR_SIGMA = 5.0      # the empirical prior is smoothed with a Gaussian of this width before rebalancing
LUT_RANGE = 128        # the soft-encoding table covers whole ab units -128..127
GRID_SIDE = 2 * round(AB_LIMIT / GRID) + 1  # cells along a and along b: 25, so 625 cells before pruning


def cell_index(ab: np.ndarray) -> np.ndarray:
    """(..., 2) ab in CIELAB units -> flat index of the nearest cell of the full GRID_SIDE x GRID_SIDE grid."""
    ij = np.clip(np.round(ab / GRID).astype(np.int64) + round(AB_LIMIT / GRID), 0, GRID_SIDE - 1)
    return ij[..., 0] * GRID_SIDE + ij[..., 1]


def ab_histogram(photos: list[np.ndarray], pixels_per_photo: int = 4096, seed: int = 0) -> np.ndarray:
    """Counts of the true ab of the photos (BGR uint8) in every cell of the full grid, from a random sample of
    each photo's pixels."""
    counts = np.zeros(GRID_SIDE ** 2, np.int64)
    rng = np.random.default_rng(seed)
    for photo in photos:
        flat = photo.reshape(-1, 3)
        sample = flat[rng.integers(0, len(flat), min(pixels_per_photo, len(flat)))]
        ab = bgr_to_lab(sample[None])[0, :, 1:]
        counts += np.bincount(cell_index(ab), minlength=GRID_SIDE ** 2)
    return counts


def bins_and_weights(counts: np.ndarray, rebalance: float = 0.5, min_count: int = 1
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """From full-grid counts: the cells used (centres, (Q, 2) in CIELAB units, those with at least min_count
    pixels), their smoothed prior (Q,) and the rebalancing weights (Q,) (rebalancing_weights)."""
    offsets = np.arange(GRID_SIDE) * GRID - AB_LIMIT
    centres = np.stack(np.meshgrid(offsets, offsets, indexing="ij"), axis=-1).reshape(-1, 2)[counts >= min_count]
    return (centres.astype(np.float32),) + rebalancing_weights(counts, centres, rebalance)


def rebalancing_weights(counts: np.ndarray, centres: np.ndarray, rebalance: float = 0.5
                        ) -> tuple[np.ndarray, np.ndarray]:
    """The smoothed prior of the cells at centres (CIELAB units) in full-grid counts, and their rebalancing weights
    w = 1 / ((1 - lambda) p + lambda / Q), scaled so that their mean under the prior is 1 (Zhang's lambda =
    rebalance: 0 is full inverse frequency, 1 no rebalancing)."""
    grid = counts.reshape(GRID_SIDE, GRID_SIDE).astype(np.float64)
    prior = gaussian_filter(grid / grid.sum(), PRIOR_SIGMA / GRID, mode="constant").ravel()[cell_index(centres)]
    prior /= prior.sum()
    weights = 1 / ((1 - rebalance) * prior + rebalance / len(centres))
    weights /= (prior * weights).sum()
    return prior.astype(np.float32), weights.astype(np.float32)


def soft_encoding_table(centres: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """For every whole ab (a, b in -128..127): the indices of its SOFT_NEIGHBOURS nearest cells (nearest first)
    and their Gaussian weights (summing to 1), as [256, 256, K] tensors indexed by (a + 128, b + 128)."""
    values = np.arange(-LUT_RANGE, LUT_RANGE, dtype=np.float32)
    ab = np.stack(np.meshgrid(values, values, indexing="ij"), axis=-1).reshape(-1, 1, 2)
    distance_sq = ((ab - centres[None]) ** 2).sum(-1)
    nearest = np.argsort(distance_sq, axis=1)[:, :SOFT_NEIGHBOURS]
    nearest_sq = np.take_along_axis(distance_sq, nearest, axis=1)
    # relative to the nearest cell, so that an ab far outside the cells does not underflow to 0 / 0
    weights = np.exp(-(nearest_sq - nearest_sq[:, :1]) / (2 * SOFT_SIGMA ** 2))
    weights /= weights.sum(axis=1, keepdims=True)
    shape = (2 * LUT_RANGE, 2 * LUT_RANGE, SOFT_NEIGHBOURS)
    return torch.from_numpy(nearest.reshape(shape)), torch.from_numpy(weights.reshape(shape).astype(np.float32))


def soft_targets(ab_norm: torch.Tensor, table: tuple[torch.Tensor, torch.Tensor]
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """Normalised ab [N, 2, H, W] -> (cell indices [N, K, H, W], their weights [N, K, H, W]) by the table."""
    indices, weights = table
    whole = (ab_norm * AB_SCALE).round().long().clamp(-LUT_RANGE, LUT_RANGE - 1) + LUT_RANGE
    a, b = whole[:, 0], whole[:, 1]
    return indices[a, b].permute(0, 3, 1, 2), weights[a, b].permute(0, 3, 1, 2)
