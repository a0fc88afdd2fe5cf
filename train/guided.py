"""The guided network: the shipped classification colouriser steered by colour hints (Zhang, Zhu et al. 2017).

Hints enter beside the encoder, never through it:
- local hints, [N, 3, H, W]: normalised ab where a person (or the simulation) pinned a colour, and a mask (1 there,
  0 elsewhere). A small dilated-conv branch at 1/8 size reads them with the encoder's features, so a pin spreads
  over the object it sits on, and adds its result to the decoder's input; the hints also enter the decoder at 1/4
  and 1/2 size, so the pinned colour stays exact at the pin.
- a global hint, [N, Q]: a colour distribution over the Q ab cells (a reference photo's or a palette's; all zero
  for none), added to the global-context features through a bias-free MLP.

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
        self.local_branch = nn.Sequential(
            nn.Conv2d(128 + 3, BRANCH_CHANNELS, 3, padding=1), nn.ReLU(inplace=True),
            *[layer for dilation in (2, 4, 8) for layer in
              (nn.Conv2d(BRANCH_CHANNELS, BRANCH_CHANNELS, 3, padding=dilation, dilation=dilation),
               nn.ReLU(inplace=True))],
            _zero_conv(BRANCH_CHANNELS, 128))
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
        branch_input = torch.cat([features, _pooled_hints(hints, 8)], dim=1)
        features = features + has_hint * self.local_branch(branch_input)
        x = base.decoder[:4](features) + base.skip_quarter(quarter) + has_hint * self.hint_quarter(
            _pooled_hints(hints, 4))
        x = base.decoder[4:11](x) + base.skip_half(stem) + has_hint * self.hint_half(_pooled_hints(hints, 2))
        x = base.decoder[11:-1](x)
        return base.decoder[-1](F.avg_pool2d(x, pool) if pool > 1 else x)


class DecodedGuidedColorizer(nn.Module):
    """The exported guided graph: (L, hints, global hint) -> (ab at full size decoded as the base's shipped
    decoding, the colour distribution softmax(logits) at 1/8 size: [N, Q, H/8, W/8], for suggested colours)."""

    def __init__(self, model: GuidedColorizer, temperature: float, calibration: float, pool: int = 2) -> None:
        super().__init__()
        self.model, self.temperature, self.calibration, self.pool = model, temperature, calibration, pool

    def forward(self, lightness: torch.Tensor, hints: torch.Tensor, global_hint: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor]:
        logits = self.model(lightness, hints, global_hint, self.pool)
        ab = self.model.base.decode_pooled(logits, self.temperature, self.calibration, self.pool)
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
