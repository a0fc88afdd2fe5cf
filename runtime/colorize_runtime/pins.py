"""Pins that act where they are put: each pin's colour reaches the surface it sits on, as far as that surface goes,
bounded by the photo's edges, and the rest of the photo keeps its automatic colours.

The guided network, given pins, treats them as the photo's palette: a pin's colour can go wherever the network is
unsure, far from the pin (a red shutter pinned turns a gray wall pink). So the network's answer is trusted only
within each pin's reach, and each pin's own colour is carried over its surface:

    ab = automatic + reach x carried + network_reach x (1 - reach) x (guided - automatic)

all at the working resolution. carried is the pins' residuals (a pin's colour minus the automatic colour at it),
blended between pins by their reaches to the power BLEND_SHARPNESS (so that at a pin its own colour is what you
get): each pin moves its surface by what it says there, so a small red shutter
stays red and its wall keeps its colour. A pin's reach falls off with the geodesic distance from it, the length of
the shortest path in which every step costs STEP_COST plus EDGE_COST_L per unit of lightness crossed and
EDGE_COST_AB per unit of the automatic colour crossed (along a uniform surface the reach goes far, across an edge of
the photo or of the network's own colours it stops), and with the difference of lightness from the pin's own:
reach = max over the pins of exp(-((distance / (REACH x short side))^2 + (dL / LIGHTNESS_TOLERANCE)^2) / 2).
network_reach is the same with a width of NETWORK_REACH x the number of pins (at most NETWORK_REACH_CAP) and a looser
NETWORK_TOLERANCE: the more pins a person places, the more the network's own reading of them is trusted beyond
their surfaces (ten points spread over a photo tell it the photo's palette; three clicks on small things do not).
Without pins the colour is the automatic colour exactly. Geodesic
distances are computed by raster scans (Toivanen 1996), each row's scan a prefix minimum, so the cost is a few
dozen numpy calls a row for all pins together. examples/web/guided.js computes the same in the page.
"""
from __future__ import annotations

import numpy as np

# Chosen with 3 person clicks (train.evaluate --clicks person:3) on 60 photos of val-original and val-foreign, a
# red pin on a small dark shutter in a gray wall, and by eye (docs/experiments.md): looser settings gain up to
# 0.3 dB more on the photos but tint the wall.
STEP_COST = 1.0       # the path's length for a step of one pixel
EDGE_COST_L = 2.0     # the path's length for each unit of CIELAB L crossed
EDGE_COST_AB = 1.0    # the path's length for each unit of the automatic colour's ab crossed
REACH = 1.0           # a pin's reach: the width of its Gaussian, as a share of the working image's short side
LIGHTNESS_TOLERANCE = 10.0  # CIELAB L: a pin fades on surfaces whose lightness differs from its own by this
NETWORK_REACH = 0.1   # the guided network's answer is trusted this far (share of the short side) x the pins
NETWORK_REACH_CAP = 1.0
NETWORK_TOLERANCE = 25.0
BLEND_SHARPNESS = 4   # the pins' residuals are blended with weights reach^4: each pin's own colour at the pin
SCAN_ROUNDS = 2       # forward and backward raster scans: two rounds reach paths that turn back twice


def _row_scan(values: np.ndarray, steps: np.ndarray) -> np.ndarray:
    """Shortest distances along one row, both ways: values (P, w), steps (w,) the cost of entering column x from
    x - 1 (steps[0] unused): min over k of values[k] + the path cost from k to x."""
    ahead = np.concatenate([[0.0], steps[1:]]).cumsum()
    forward = ahead + np.minimum.accumulate(values - ahead, axis=-1)
    back = np.concatenate([[0.0], steps[:0:-1]]).cumsum()
    backward = (back + np.minimum.accumulate(values[:, ::-1] - back, axis=-1))[:, ::-1]
    return np.minimum(forward, backward)


def geodesic_distances(lightness: np.ndarray, automatic: np.ndarray, seeds: list[tuple[int, int]]) -> np.ndarray:
    """(P, h, w) float64: each seed's (row, column) geodesic distance over the plane (see the module's docstring);
    lightness (h, w) CIELAB L, automatic (h, w, 2) ab."""
    lightness = np.asarray(lightness, np.float64)
    automatic = np.asarray(automatic, np.float64)
    height, width = lightness.shape

    def step_costs(axis: int) -> np.ndarray:
        jump_l = np.abs(np.diff(lightness, axis=axis))
        jump_ab = np.sqrt(np.square(np.diff(automatic, axis=axis)).sum(-1))
        costs = STEP_COST + EDGE_COST_L * jump_l + EDGE_COST_AB * jump_ab
        return np.concatenate([np.zeros_like(costs.take([0], axis=axis)), costs], axis=axis)

    across, down = step_costs(1), step_costs(0)  # across[y, x]: x - 1 -> x; down[y, x]: y - 1 -> y
    distances = np.full((len(seeds), height, width), np.inf)
    for index, (row, column) in enumerate(seeds):
        distances[index, row, column] = 0.0
    for _ in range(SCAN_ROUNDS):
        distances[:, 0] = _row_scan(distances[:, 0], across[0])
        for y in range(1, height):
            distances[:, y] = _row_scan(np.minimum(distances[:, y], distances[:, y - 1] + down[y]), across[y])
        for y in range(height - 2, -1, -1):
            distances[:, y] = _row_scan(np.minimum(distances[:, y], distances[:, y + 1] + down[y + 1]), across[y])
    return distances


def reaches(distances: np.ndarray, lightness: np.ndarray, seeds: list[tuple[int, int]], width: float,
            tolerance: float) -> np.ndarray:
    """(P, h, w) float32 in [0, 1]: how far each seed's pin reaches (1 at the pin): a Gaussian of its geodesic
    distances (P, h, w) of this width (pixels), times a Gaussian of the lightness's difference from the pin's own
    of this tolerance (CIELAB L; 0: none)."""
    exponent = np.square(distances / width)
    if tolerance:
        seed_lightness = np.array([lightness[row, column] for row, column in seeds], np.float64)[:, None, None]
        exponent += np.square((lightness[None] - seed_lightness) / tolerance)
    return np.exp(-0.5 * exponent).astype(np.float32)


def pinned_colour(lightness: np.ndarray, automatic: np.ndarray, guided: np.ndarray,
                  pins: list[tuple[int, int, tuple[float, float]]]) -> np.ndarray:
    """The colour (h, w, 2) with pins [(row, column, (a, b))] at the working resolution, from the lightness
    (h, w), the automatic colour (h, w, 2) and the guided network's answer with the pins (h, w, 2): see the
    module's docstring."""
    if not pins:
        return automatic
    seeds = [(row, column) for row, column, _ in pins]
    distances = geodesic_distances(lightness, automatic, seeds)
    short_side = min(lightness.shape)
    each = reaches(distances, lightness, seeds, REACH * short_side, LIGHTNESS_TOLERANCE)
    reach = each.max(axis=0)[..., None]
    residuals = np.array([np.asarray(ab, np.float32) - automatic[row, column] for row, column, ab in pins])
    weights = (each / np.maximum(reach[..., 0], 1e-12)) ** BLEND_SHARPNESS  # the nearest pin's weight is 1
    carried = np.tensordot(weights, residuals.astype(np.float32), axes=(0, 0))
    carried /= np.maximum(weights.sum(axis=0), 1e-12)[..., None]
    network_width = min(NETWORK_REACH_CAP, NETWORK_REACH * len(pins)) * short_side
    network_reach = reaches(distances, lightness, seeds, network_width, NETWORK_TOLERANCE).max(axis=0)[..., None]
    return automatic + reach * carried + network_reach * (1 - reach) * (guided - automatic)
