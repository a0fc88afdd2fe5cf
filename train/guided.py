"""The guided network: the shipped classification colouriser steered by colour hints (Zhang, Zhu et al. 2017).

Hints enter beside the encoder, never through it:
- local hints, [N, 3, H, W]: normalised ab where a person (or the simulation) pinned a colour, and a mask (1 there,
  0 elsewhere). A small dilated-conv branch at 1/8 size reads them with the encoder's features and the hint
  colours spread by distance (a normalised Gaussian blur of the pins at two widths), and decides where the pins'
  colour belongs: it adds to the decoder's input, and it adds to the logits a bias towards a colour it predicts
  (the spread colour plus a correction) with a confidence per pixel, as a Gaussian around that colour over the ab
  cells. The hints also enter the decoder at 1/4 and 1/2 size, so the pinned colour stays exact at the pin.
- a global hint, [N, Q]: a colour distribution over the Q ab cells (a reference photo's or a palette's; all zero
  for none), added to the global-context features through a bias-free MLP, and to the logits as a learned share of
  its log (the network's distribution times the reference's to a learned power).

The base network is frozen and every addition gives exactly zero without hints: the local branch is multiplied by
"this window has a hint" and the global MLP has no biases. So with no hints the guided network is the base network
to the bit, and training only has to teach the additions.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn
import torch.nn.functional as F

from train.model import Colorizer, _zero_conv

BRANCH_CHANNELS = 64
SPREAD_SIGMAS = (2.0, 8.0)  # widths, in cells of the 1/8-size grid, at which the pins' colours are spread ...
SPREAD_RADIUS = 31          # ... over the whole 32 x 32 grid of a window (a kernel cut short draws square edges)
SPREAD_FLOOR = 1e-3
COLOUR_BIAS_SCALE = 100.0   # ~ 1 / (a cell's width in normalised ab)^2: the colour bias's Gaussian width
REFERENCE_FLOOR = 1e-3      # log(global hint + this): a cell the reference lacks is not ruled out
PIN_SIGMA = 1.5             # pixels: how far a pin's exact colour blends into the network's around it


def _gaussian_line(sigma: float, radius: int | None = None) -> torch.Tensor:
    """The 1-D Gaussian exp(-x^2 / (2 sigma^2)), x = -radius..radius (default 3 sigma): a 2-D Gaussian blur is
    this line down the columns, then along the rows (_blur)."""
    radius = int(3 * sigma) if radius is None else radius
    x = torch.arange(-radius, radius + 1, dtype=torch.float32)
    return torch.exp(-x ** 2 / (2 * sigma ** 2))


def _blur(x: torch.Tensor, line: torch.Tensor) -> torch.Tensor:
    """Each channel of x [N, C, h, w] convolved with the 2-D Gaussian outer(line, line), zero-padded, as two 1-D
    convolutions: the same sums as the 2-D kernel; a 63 x 63 kernel in one Conv took half of a window's time in
    onnxruntime."""
    radius = line.shape[0] // 2
    flat = x.reshape(-1, 1, *x.shape[2:])
    flat = F.conv2d(flat, line.view(1, 1, -1, 1), padding=(radius, 0))
    return F.conv2d(flat, line.view(1, 1, 1, -1), padding=(0, radius)).reshape(x.shape)


_LINE = _gaussian_line(PIN_SIGMA)
# the blurred mask at the centre of a 3 x 3 pin
PIN_WEIGHT_AT_CENTRE = float(_LINE[len(_LINE) // 2 - 1:len(_LINE) // 2 + 2].sum() ** 2)


def _spread(hints: torch.Tensor, line: torch.Tensor) -> torch.Tensor:
    """Pinned ab [N, 3, h, w] (ab, mask) -> [N, 3, h, w]: the pins' colours averaged with Gaussian weights of
    their distance (a normalised convolution) and how much pin weight reaches each pixel."""
    ab, mask = hints[:, :2], hints[:, 2:]
    blurred = _blur(torch.cat([ab * mask, mask], dim=1), line)
    spread_ab, weight = blurred[:, :2], blurred[:, 2:]
    # + SPREAD_FLOOR: far from every pin the spread colour fades smoothly to gray (0) instead of keeping the
    # nearest pin's colour out to where the weights underflow
    return torch.cat([spread_ab / (weight + SPREAD_FLOOR), weight.clamp_max(1.0)], dim=1)


def _pooled_hints(hints: torch.Tensor, factor: int) -> torch.Tensor:
    """[N, 3, H, W] (ab, mask) -> [N, 3, H/f, W/f]: the mean pinned ab of each f x f block and whether the block
    holds a pin (a one-pixel pin survives at every size, unlike a plain average of the mask)."""
    if factor == 1:
        return hints
    ab, mask = hints[:, :2], hints[:, 2:]
    summed_mask = F.avg_pool2d(mask, factor)
    ab = F.avg_pool2d(ab * mask, factor) / summed_mask.clamp_min(1e-6)
    return torch.cat([ab, F.max_pool2d(mask, factor)], dim=1)


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
            self.register_buffer(f"spread_kernel{index}", _gaussian_line(sigma, SPREAD_RADIUS), persistent=False)
        self.local_branch = nn.Sequential(
            nn.Conv2d(128 + 3 + 3 * len(SPREAD_SIGMAS), BRANCH_CHANNELS, 3, padding=1), nn.ReLU(inplace=True),
            *[layer for dilation in (2, 4, 8) for layer in
              (nn.Conv2d(BRANCH_CHANNELS, BRANCH_CHANNELS, 3, padding=dilation, dilation=dilation),
               nn.ReLU(inplace=True))])
        self.to_features = _zero_conv(BRANCH_CHANNELS, 128)
        self.to_colour = _zero_conv(BRANCH_CHANNELS, 3)  # a correction of the spread colour, and the confidence
        self.reference_power = nn.Parameter(torch.zeros(()))
        self.register_buffer("cell_half_norms", (base.ab_bins ** 2).sum(dim=1)[None, :, None, None] / 2,
                             persistent=False)
        self.hint_quarter = _zero_conv(3, 128)
        self.hint_half = _zero_conv(3, 64)
        self.global_hint = nn.Sequential(nn.Linear(num_bins, 128, bias=False), nn.ReLU(inplace=True),
                                         nn.Linear(128, 128, bias=False))
        nn.init.zeros_(self.global_hint[2].weight)
        base.requires_grad_(False)

    def train(self, mode: bool = True) -> "GuidedColorizer":
        super().train(mode)
        self.base.eval()  # frozen: its BatchNorm statistics stay the shipped ones
        return self

    def forward(self, lightness: torch.Tensor, hints: torch.Tensor, global_hint: torch.Tensor, pool: int = 2
                ) -> torch.Tensor:
        base = self.base
        has_hint = hints[:, 2:].amax(dim=(1, 2, 3), keepdim=True)  # 1 where the window holds a pin, else 0
        stem = base.encoder[:3](lightness)
        quarter = base.encoder[3:5](stem)
        features = base.encoder[5](quarter)
        features = features + base.global_context(features) + self.global_hint(global_hint)[:, :, None, None]
        pins = _pooled_hints(hints, 8)
        spreads = [_spread(pins, self.get_buffer(f"spread_kernel{i}")) for i in range(len(SPREAD_SIGMAS))]
        hidden = self.local_branch(torch.cat([features, pins, *spreads], dim=1))
        features = features + has_hint * self.to_features(hidden)
        x = base.decoder[:4](features) + base.skip_quarter(quarter) + has_hint * self.hint_quarter(
            _pooled_hints(hints, 4))
        x = base.decoder[4:11](x) + base.skip_half(stem) + has_hint * self.hint_half(_pooled_hints(hints, 2))
        x = base.decoder[11:-1](x)
        logits = base.decoder[-1](F.avg_pool2d(x, pool) if pool > 1 else x)
        return logits + self._colour_bias(hidden, spreads[0], has_hint, global_hint, logits.shape[-2:])

    def _colour_bias(self, hidden: torch.Tensor, spread: torch.Tensor, has_hint: torch.Tensor,
                     global_hint: torch.Tensor, size) -> torch.Tensor:
        """What the hints add to the logits: confidence x a Gaussian over the cells around the colour the branch
        predicts (log-probabilities up to a constant: c.ab - |c|^2 / 2 per cell c), and the reference's log
        distribution to a learned power (none without a global hint)."""
        correction = self.to_colour(hidden)
        colour = F.interpolate(spread[:, :2] + correction[:, :2], size=size, mode="bilinear", align_corners=False)
        confidence = F.interpolate(correction[:, 2:], size=size, mode="bilinear", align_corners=False)
        confidence = has_hint * COLOUR_BIAS_SCALE * confidence
        bias = F.conv2d(colour * confidence, self.base.ab_bins[:, :, None, None]) - confidence * self.cell_half_norms
        has_reference = (global_hint.sum(dim=1) > 0).to(global_hint.dtype)[:, None, None, None]
        reference = torch.log(global_hint + REFERENCE_FLOOR)[:, :, None, None]
        return bias + has_reference * self.reference_power * reference


def pin_colours(ab: torch.Tensor, hints: torch.Tensor, line: torch.Tensor) -> torch.Tensor:
    """The decoded ab [N, 2, H, W] with each pin's own colour at the pin, blended into the network's colour over a
    few pixels around it (weight: the blurred mask, scaled so that it is 1 inside a 3 x 3 pin): the colour a person
    pinned is the colour they get there, which the network's 1/4-size head alone gives only approximately."""
    spread = _spread(hints, line)
    weight = (_blur(hints[:, 2:], line) / PIN_WEIGHT_AT_CENTRE).clamp(0, 1)
    return ab + weight * (spread[:, :2] - ab)


class DecodedGuidedColorizer(nn.Module):
    """The exported guided graph: (L, hints, global hint) -> (ab at full size decoded as the base's shipped
    decoding, the colour distribution softmax(logits) at 1/8 size: [N, Q, H/8, W/8], for suggested colours)."""

    def __init__(self, model: GuidedColorizer, temperature: float, calibration: float, pool: int = 2) -> None:
        super().__init__()
        self.model, self.temperature, self.calibration, self.pool = model, temperature, calibration, pool
        self.register_buffer("pin_kernel", _gaussian_line(PIN_SIGMA), persistent=False)

    def forward(self, lightness: torch.Tensor, hints: torch.Tensor, global_hint: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor]:
        logits = self.model(lightness, hints, global_hint, self.pool)
        ab = pin_colours(self.model.base.decode_pooled(logits, self.temperature, self.calibration, self.pool),
                         hints, self.pin_kernel)
        coarse = F.avg_pool2d(logits, 8 // (2 * self.pool))
        weights = torch.exp(coarse - coarse.amax(dim=1, keepdim=True))
        return ab, weights / weights.sum(dim=1, keepdim=True)


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
