"""The guided network: the shipped classification colouriser steered by colour hints (Zhang, Zhu et al. 2017).

Hints enter beside the encoder, never through it:
- local hints, [N, 3, H, W]: normalised ab where a person (or the simulation) pinned a colour, and a mask (1 there,
  0 elsewhere; ab is 0 wherever the mask is). A small dilated-conv branch at 1/8 size reads them with the encoder's
  features and the hint colours spread by distance (a normalised Gaussian blur of the pins at two widths), and
  decides where the pins' colour belongs: it adds to the decoder's input, and it adds to the logits a bias towards
  a colour it predicts (the spread colour plus a correction) with a confidence per pixel, as a Gaussian around that
  colour over the ab cells. The pins also enter the decoder at 1/4 size, and the decoded colour is the pin's own
  at the pin (pin_colours).
- the pins' palette: the window's pinned colours as a distribution over the cells (pins_palette), treated as a
  reference of its own: a few clicks tell the photo's overall colour, which is what a gray photo hides most.
- a global hint, [N, Q]: a colour distribution over the Q ab cells (a reference photo's or a palette's; all zero
  for none), added to the global-context features through a bias-free MLP, and to the logits as a learned share of
  its log (the network's distribution times the reference's to a learned power); the pins' palette likewise,
  through an MLP and a power of its own.

The base network is frozen and every addition gives exactly zero without hints: the local branch is multiplied by
"this window has a hint", and the 1/4-size conv and the MLPs have no biases. So with no hints the guided network
is the base network to the bit, and training only has to teach the additions.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn
import torch.nn.functional as F

from colorize_runtime.colour import WINDOW
from colorize_runtime.guided import PIN_SIZE
from train.model import AB_UNITS, Colorizer, _zero_conv, squared_distances_to_cells

BRANCH_CHANNELS = 64
SPREAD_SIGMAS = (2.0, 8.0)  # widths, in cells of the 1/8-size grid, at which the pins' colours are spread over the window
SPREAD_FLOOR = 1e-3
COLOUR_BIAS_SCALE = 100.0   # ~ 1 / (a cell's width in normalised ab)^2: the colour bias's Gaussian width
REFERENCE_FLOOR = 1e-3      # log(global hint + this): a cell the reference lacks is not ruled out
PIN_BLEND = 5               # pixels: the box of the pin blend (pin_colours)
PALETTE_SIGMA = 5.0         # CIELAB units: the width of each pin's colour in the pins' palette


def _gaussian_line(sigma: float, radius: int) -> torch.Tensor:
    """The 1-D Gaussian exp(-x^2 / (2 sigma^2)), x = -radius..radius."""
    x = torch.arange(-radius, radius + 1, dtype=torch.float32)
    return torch.exp(-x ** 2 / (2 * sigma ** 2))


def _blur_matrix(sigma: float, size: int) -> torch.Tensor:
    """[size, size]: M @ X @ M.T blurs a size x size grid X by a Gaussian of sigma cells, zero-padded (the 2-D
    convolution with outer(line, line), as two small matrix products: a 1-channel 63-tap Conv cost far more in
    onnxruntime)."""
    index = torch.arange(size)
    return _gaussian_line(sigma, size - 1)[index[:, None] - index[None, :] + size - 1]


def _spread(pins: torch.Tensor, matrix: torch.Tensor) -> torch.Tensor:
    """Pins at 1/8 size [N, 3, h, w] (ab, mask; ab 0 where the mask is) -> [N, 3, h, w]: the pins' colours averaged
    with Gaussian weights of their distance (a normalised convolution) and how much pin weight reaches each cell."""
    blurred = torch.matmul(matrix, torch.matmul(pins, matrix.t()))
    spread_ab, weight = blurred[:, :2], blurred[:, 2:]
    # + SPREAD_FLOOR: far from every pin the spread colour fades smoothly to gray (0) instead of keeping the
    # nearest pin's colour out to where the weights underflow
    return torch.cat([spread_ab / (weight + SPREAD_FLOOR), weight.clamp_max(1.0)], dim=1)


def _pooled_hints(hints: torch.Tensor, factor: int) -> torch.Tensor:
    """[N, 3, H, W] (ab, mask; ab 0 where the mask is, as the hint contract says) -> [N, 3, H/f, W/f]: the mean
    pinned ab of each f x f block and whether the block holds a pin (a one-pixel pin survives at every size,
    unlike a plain average of the mask)."""
    pooled = F.avg_pool2d(hints, factor)
    mask = pooled[:, 2:]
    return torch.cat([pooled[:, :2] / mask.clamp_min(1e-6), (mask > 0).to(hints.dtype)], dim=1)


def _global_mlp(num_bins: int) -> nn.Sequential:
    """A distribution over the cells [N, Q] -> global features [N, 128]: bias-free, so all zero in gives zero
    out, and zero at the start (the last layer zero-initialised)."""
    mlp = nn.Sequential(nn.Linear(num_bins, 128, bias=False), nn.ReLU(inplace=True), nn.Linear(128, 128, bias=False))
    nn.init.zeros_(mlp[2].weight)
    return mlp


class GuidedColorizer(nn.Module):
    """Normalised L [N,1,H,W], hints [N,3,H,W], global hint [N,Q] -> the base Colorizer's logits (forward()'s
    output at 1/(2 pool) size), steered by the hints. Built around a classification Colorizer with skips and
    global context, whose weights it keeps as they are."""

    def __init__(self, base: Colorizer) -> None:
        super().__init__()
        if base.head != "classification" or base.skip_quarter is None or base.global_context is None:
            raise ValueError("the guided network needs a classification Colorizer with skips and global context")
        self.base = base
        num_bins = base.ab_bins.shape[0]
        for index, sigma in enumerate(SPREAD_SIGMAS):
            self.register_buffer(f"spread_matrix{index}", _blur_matrix(sigma, WINDOW // 8), persistent=False)
        self.local_branch = nn.Sequential(
            nn.Conv2d(128 + 3 + 3 * len(SPREAD_SIGMAS), BRANCH_CHANNELS, 1), nn.ReLU(inplace=True),
            *[layer for dilation in (2, 4, 8) for layer in
              (nn.Conv2d(BRANCH_CHANNELS, BRANCH_CHANNELS, 3, padding=dilation, dilation=dilation),
               nn.ReLU(inplace=True))])
        self.to_features = _zero_conv(BRANCH_CHANNELS, 128)
        self.to_colour = _zero_conv(BRANCH_CHANNELS, 3)  # a correction of the spread colour, and the confidence
        self.reference_power = nn.Parameter(torch.zeros(()))
        self.palette_power = nn.Parameter(torch.zeros(()))
        # the colour bias's Gaussian over the cells as one 1x1 conv of (colour x confidence, confidence)
        self.register_buffer("cell_kernel", torch.cat([base.ab_bins, -(base.ab_bins ** 2).sum(dim=1, keepdim=True)
                                                       / 2], dim=1)[:, :, None, None], persistent=False)
        self.hint_quarter = nn.Conv2d(3, 128, 1, bias=False)  # bias-free: no pins, nothing added
        nn.init.zeros_(self.hint_quarter.weight)
        self.global_hint = _global_mlp(num_bins)
        self.palette = _global_mlp(num_bins)  # the window's pins' colours as a distribution over the cells
        base.requires_grad_(False)

    def branches(self) -> dict[str, torch.Tensor]:
        """The state of what this network adds to its base (what training changes)."""
        return {name: value for name, value in self.state_dict().items() if not name.startswith("base.")}

    @torch.no_grad()
    def scale_reference(self, strength: float) -> None:
        """Temper the network's response to a reference by strength (1: as trained): the global hint's MLP is
        bias-free and ReLU is positively homogeneous, so scaling its first layer and the reference's log power by
        strength scales all that a reference adds to the logits."""
        self.global_hint[0].weight.mul_(strength)
        self.reference_power.mul_(strength)

    def train(self, mode: bool = True) -> "GuidedColorizer":
        super().train(mode)
        self.base.eval()  # frozen: its BatchNorm statistics stay the shipped ones
        return self

    def forward(self, lightness: torch.Tensor, hints: torch.Tensor, global_hint: torch.Tensor, pool: int = 2
                ) -> torch.Tensor:
        base = self.base
        quarter_pins = _pooled_hints(hints, 4)
        has_hint = quarter_pins[:, 2:].amax(dim=(1, 2, 3), keepdim=True)  # 1 where the window holds a pin, else 0
        stem = base.encoder[:3](lightness)
        quarter = base.encoder[3:5](stem)
        features = base.encoder[5](quarter)
        pins = _pooled_hints(quarter_pins, 2)
        palette = self.pins_palette(_pooled_hints(pins, 2))
        features = features + base.global_context(features) + (self.global_hint(global_hint)
                                                                + self.palette(palette))[:, :, None, None]
        spreads = [_spread(pins, self.get_buffer(f"spread_matrix{i}")) for i in range(len(SPREAD_SIGMAS))]
        hidden = self.local_branch(torch.cat([features, pins, *spreads], dim=1))
        features = features + has_hint * self.to_features(hidden)
        x = base.decoder[:4](features) + base.skip_quarter(quarter) + self.hint_quarter(quarter_pins)
        x = base.decoder[4:11](x) + base.skip_half(stem)
        x = base.decoder[11:-1](x)
        logits = base.decoder[-1](F.avg_pool2d(x, pool) if pool > 1 else x)
        return logits + self._colour_bias(hidden, spreads[0], has_hint, global_hint, palette, logits.shape[-2:])

    def pins_palette(self, pins: torch.Tensor) -> torch.Tensor:
        """The pinned colours of a window as a distribution over the ab cells, [N, Q] (all zero without pins):
        each cell of the pins' grid (1/16 size) holding a pin adds a Gaussian (PALETTE_SIGMA) around its colour.
        A few clicks tell the photo's palette as a reference photo does; the network learns how far to trust so
        few colours."""
        distance_sq = squared_distances_to_cells(pins[:, :2], self.base.ab_bins)
        near = torch.exp(-distance_sq / (2 * (PALETTE_SIGMA / AB_UNITS) ** 2)) * pins[:, 2:]
        counts = near.sum(dim=(2, 3))
        return counts / counts.sum(dim=1, keepdim=True).clamp_min(1e-6)

    def _colour_bias(self, hidden: torch.Tensor, spread: torch.Tensor, has_hint: torch.Tensor,
                     global_hint: torch.Tensor, palette: torch.Tensor, size) -> torch.Tensor:
        """What the hints add to the logits: confidence x a Gaussian over the cells around the colour the branch
        predicts (log-probabilities up to a constant: c.ab - |c|^2 / 2 per cell c), and the reference's and the
        pins' palette's log distributions, each to a learned power (none without a reference or pins)."""
        correction = self.to_colour(hidden)
        colour = F.interpolate(spread[:, :2] + correction[:, :2], size=size, mode="bilinear", align_corners=False)
        confidence = F.interpolate(correction[:, 2:], size=size, mode="bilinear", align_corners=False)
        confidence = has_hint * COLOUR_BIAS_SCALE * confidence
        has_reference = (global_hint.sum(dim=1) > 0).to(global_hint.dtype)[:, None]
        distributions = (has_reference * self.reference_power * torch.log(global_hint + REFERENCE_FLOOR)
                         + has_hint[:, :, 0, 0] * self.palette_power * torch.log(palette + REFERENCE_FLOOR))
        return (F.conv2d(torch.cat([colour * confidence, confidence], dim=1), self.cell_kernel)
                + distributions[:, :, None, None])


def pin_colours(ab: torch.Tensor, hints: torch.Tensor) -> torch.Tensor:
    """The decoded ab [N, 2, H, W] with each pin's own colour at the pin, blended into the network's colour over
    two pixels around it (a PIN_BLEND x PIN_BLEND box around each pixel: weight 1 while the box holds a whole
    3 x 3 pin, falling to 0 two pixels further): the colour a person pinned is the colour they get there, which
    the network's 1/4-size head alone gives only approximately. Box sums (AveragePool) cost a window a tenth of
    what a Gaussian blur of the full-size pins did."""
    boxed = F.avg_pool2d(hints, PIN_BLEND, stride=1, padding=PIN_BLEND // 2, count_include_pad=True)
    spread, weight = boxed[:, :2] / boxed[:, 2:].clamp_min(1e-6), boxed[:, 2:]
    weight = (weight * (PIN_BLEND / PIN_SIZE) ** 2).clamp(0, 1)
    return ab + weight * (spread - ab)


class DecodedGuidedColorizer(nn.Module):
    """The exported guided graph: (L, hints, global hint) -> (ab at full size decoded as the default file
    decodes, with the pins' colours at the pins; the colour distribution at 1/8 size, the rebalancing divided out:
    [N, Q, H/8, W/8], for suggested colours)."""

    def __init__(self, model: GuidedColorizer, temperature: float, calibration: float, pool: int = 2,
                 confidence: float = 0.0, neutral: float = 0.0, gain: float = 1.0) -> None:
        super().__init__()
        self.model, self.temperature, self.calibration, self.pool = model, temperature, calibration, pool
        self.confidence, self.neutral, self.gain = confidence, neutral, gain

    def forward(self, lightness: torch.Tensor, hints: torch.Tensor, global_hint: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor]:
        base = self.model.base
        logits = self.model(lightness, hints, global_hint, self.pool)
        probabilities = base.probabilities(logits)  # the confidence's, and the distribution output's
        ab = base.decode_pooled(logits, self.temperature, self.calibration, self.pool, self.confidence,
                                probabilities, neutral=self.neutral, gain=self.gain)
        return pin_colours(ab, hints), F.avg_pool2d(probabilities, 8 // (2 * self.pool))


# --- hint simulation (training and evaluation); the global hint is colorize_runtime.guided.ab_distribution ---

def simulate_points(ab: np.ndarray, valid: tuple[int, int], count: int, rng: np.random.Generator,
                    patch_sizes: tuple[int, int] = (1, 9)) -> np.ndarray:
    """Local hints from the truth, as Zhang 2017 simulates a user: count points spread at random over the photo
    (the valid top-left h x w of the window), each a square patch of side uniform in patch_sizes whose hint is the
    mean true ab of the patch. ab: normalised [2, H, W] -> hints [3, H, W] (ab, mask)."""
    hints = np.zeros((3,) + ab.shape[1:], np.float32)
    h, w = valid
    for _ in range(count):
        size = int(rng.integers(patch_sizes[0], patch_sizes[1] + 1))
        y, x = int(rng.integers(0, max(1, h - size + 1))), int(rng.integers(0, max(1, w - size + 1)))
        hints[:2, y:y + size, x:x + size] = ab[:, y:y + size, x:x + size].mean(axis=(1, 2))[:, None, None]
        hints[2, y:y + size, x:x + size] = 1
    return hints
