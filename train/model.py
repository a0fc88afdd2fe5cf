"""The colorize network: ResNet-18's first six children as encoder (L in), a small conv decoder (ab out)."""
from __future__ import annotations

import torch
from torch import nn
from torchvision.models import resnet18


def _conv_bn_relu(in_channels: int, out_channels: int) -> list[nn.Module]:
    return [nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True)]


CONFIDENCE_RADIUS = 15.0  # CIELAB units: how near a colour counts as "this colour" for the confidence
NEUTRAL_RADIUS = 10.0  # CIELAB units: the width of the neutral prior's bump around gray (decode's neutral)
AB_UNITS = 110.0  # colour.AB_SCALE: ab_bins are normalised by it


def _upsample() -> nn.Module:
    return nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False)


def _zero_conv(in_channels: int, out_channels: int) -> nn.Conv2d:
    """A 1x1 conv that starts at zero: a model fine-tuned from one without it starts as that model."""
    conv = nn.Conv2d(in_channels, out_channels, 1)
    nn.init.zeros_(conv.weight)
    nn.init.zeros_(conv.bias)
    return conv


class Colorizer(nn.Module):
    """Normalised L [N, 1, H, W] -> normalised ab [N, 2, H, W]; H and W multiples of 8. No pretrained weights.

    Two optional decoder additions (off: the plain design). skips: the encoder's 1/2- and 1/4-size features are
    added (through 1x1 convs) to the decoder's at those sizes, so colour edges can follow the photo's edges
    instead of the 1/8 grid. global_context: the window's mean encoder features are added everywhere, so a
    pixel's colour can depend on the whole scene beyond the receptive field."""

    # Parameter-name prefixes of the optional additions: what a plain checkpoint lacks.
    ADDITION_PREFIXES = ("global_context.", "skip_")

    @classmethod
    def from_config(cls, config: dict) -> Colorizer:
        """The network a training config (train.train.Config as a dict) describes."""
        return cls(bool(config.get("global_context", 0)), bool(config.get("skips", 0)),
                   config.get("head", "regression"), int(config.get("num_bins", 0)))

    def __init__(self, global_context: bool = False, skips: bool = False, head: str = "regression",
                 num_bins: int = 0) -> None:
        """head: "regression" (the decoder ends in a 3x3 conv to ab, upsampled to full size) or "classification"
        (a 1x1 conv at 1/2 size to num_bins logits over the quantised ab cells of train.bins, whose centres,
        normalised, are the buffer ab_bins, and class_weights their rebalancing weights: set both before
        training; decode() turns logits into ab)."""
        super().__init__()
        if head not in ("regression", "classification"):
            raise ValueError(f"head must be 'regression' or 'classification', not {head!r}")
        self.head = head
        resnet = resnet18(weights=None)
        resnet.conv1 = nn.Conv2d(1, 64, kernel_size=7, stride=2, padding=3, bias=False)
        # conv1, bn1, relu, maxpool, layer1, layer2 -> 128 channels at 1/8 size
        self.encoder = nn.Sequential(*list(resnet.children())[:6])
        layers = [*_conv_bn_relu(128, 128), _upsample(),
                  *_conv_bn_relu(128, 64), *_conv_bn_relu(64, 64), _upsample(),
                  *_conv_bn_relu(64, 32)]
        # created after the body, so a seed gives the body the same initial weights with either head
        layers += ([nn.Conv2d(32, 2, 3, padding=1), _upsample()] if head == "regression"
                   else [nn.Conv2d(32, num_bins, 1)])
        self.decoder = nn.Sequential(*layers)
        if head == "classification":
            self.register_buffer("ab_bins", torch.zeros(num_bins, 2))
            self.register_buffer("class_weights", torch.zeros(num_bins))  # the loss's rebalancing (train.bins)
        self.global_context = nn.Sequential(
            nn.AdaptiveAvgPool2d(1), nn.Conv2d(128, 128, 1), nn.ReLU(inplace=True), _zero_conv(128, 128),
        ) if global_context else None
        self.skip_quarter = _zero_conv(64, 128) if skips else None  # layer1 (1/4) -> decoder input at 1/4
        self.skip_half = _zero_conv(64, 64) if skips else None  # stem after relu (1/2) -> decoder input at 1/2

    def forward(self, lightness: torch.Tensor, pool: int = 1) -> torch.Tensor:
        """Regression: normalised ab [N, 2, H, W]. Classification: logits [N, num_bins, H/2, W/2]; with pool > 1
        the logits averaged over pool x pool blocks [N, num_bins, H/(2 pool), W/(2 pool)], computed as the 1x1
        head on the averaged features (the same by linearity, at 1/pool^2 of the head's cost)."""
        if pool != 1 and self.head != "classification":
            raise ValueError("pool applies to the classification head only")
        stem = self.encoder[:3](lightness)
        quarter = self.encoder[3:5](stem)
        features = self.encoder[5](quarter)
        if self.global_context is not None:
            features = features + self.global_context(features)
        if self.skip_quarter is None:
            x = self.decoder[:-1](features)
        else:
            x = self.decoder[:4](features) + self.skip_quarter(quarter)
            x = self.decoder[4:11](x) + self.skip_half(stem)
            x = self.decoder[11:-1](x)
        return self.decoder[-1](nn.functional.avg_pool2d(x, pool) if pool > 1 else x)

    def decode(self, output: torch.Tensor, temperature: float, calibration: float = 0.0, pool: int = 1,
               confidence: float = 0.0, neutral: float = 0.0, gain: float = 1.0) -> torch.Tensor:
        """forward()'s output -> normalised ab [N, 2, H, W]. Classification: the annealed mean (Zhang 2016),
        softmax(logits / T) . ab_bins, at 1/2 size, then upsampled bilinearly; T = 1 is the plain mean of the
        distribution (muted where it is unsure), T -> 0 its mode (vivid, blotchy). A loss weighted by
        class_weights w learns probabilities proportional to w(q) p(q | photo): calibration c divides w^c out
        first (logits - c log w): 0 keeps the rebalanced distribution (rare colours favoured), 1 is p itself.
        pool > 1: the logits are averaged over pool x pool blocks first, so the annealed mean runs at
        1/(2 pool) size (what the exported graph computes at a quarter of the cost with pool 2: DecodedColorizer).
        confidence > 0 mutes colours the network is unsure of: at each pixel the decoded ab is scaled by
        min(1, m / confidence), m the probability (calibrated fully, c = 1) of the colours within about two cells
        of it (a Gaussian of CONFIDENCE_RADIUS): a strong colour is kept where the network gives it real weight and
        faded where it is one guess among many, which is where strong wrong colours come from.
        neutral > 0 is a prior for gray: neutral x exp(-|cell|^2 / (2 r^2)), r = NEUTRAL_RADIUS, is added to the
        logits, so that where the network hesitates between many colours (whose mean is a warm brown: the sepia
        cast) the colour goes gray, while a colour it gives a clear margin stays; gain then scales the decoded ab
        (what the prior and the muting took from the colours the network is sure of)."""
        if pool > 1 and self.head == "classification":
            output = nn.functional.avg_pool2d(output, pool)
        return self.decode_pooled(output, temperature, calibration, pool, confidence, neutral=neutral, gain=gain)

    def decode_pooled(self, output: torch.Tensor, temperature: float, calibration: float = 0.0, pool: int = 1,
                      confidence: float = 0.0, probabilities: torch.Tensor | None = None, neutral: float = 0.0,
                      gain: float = 1.0) -> torch.Tensor:
        """forward(lightness, pool)'s output -> normalised ab [N, 2, H, W]: decode()'s annealed mean of logits
        that are already at 1/(2 pool) size, upsampled bilinearly by 2 pool (regression: the output itself).
        probabilities: self.probabilities(output) when the caller has it already (confidence uses it)."""
        if self.head == "regression":
            return output
        logits = output.float()
        if calibration:
            logits = logits - calibration * self.class_weights.log()[None, :, None, None]
        if neutral:
            radius = NEUTRAL_RADIUS / AB_UNITS
            logits = logits + neutral * torch.exp(-self.ab_bins.square().sum(dim=1) / (2 * radius ** 2)
                                                  )[None, :, None, None]
        ab = _expectation(logits / temperature, self.ab_bins)
        if confidence:
            if probabilities is None:
                probabilities = self.probabilities(output.float())
            ab = ab * (self._mass_near(probabilities, ab) / confidence).clamp(max=1.0)
        if gain != 1:
            ab = ab * gain
        return nn.functional.interpolate(ab, scale_factor=2 * pool, mode="bilinear", align_corners=False)

    def probabilities(self, logits: torch.Tensor) -> torch.Tensor:
        """The colour distribution p over the cells [N, Q, h, w], the rebalancing divided out (calibration 1)."""
        probabilities = logits - self.class_weights.log()[None, :, None, None]
        probabilities = torch.exp(probabilities - probabilities.amax(dim=1, keepdim=True))
        return probabilities / probabilities.sum(dim=1, keepdim=True)

    def _mass_near(self, probabilities: torch.Tensor, ab: torch.Tensor) -> torch.Tensor:
        """[N, 1, h, w]: the probability (self.probabilities) of the cells near ab [N, 2, h, w], each weighted
        by exp(-|cell - ab|^2 / (2 r^2)), r = CONFIDENCE_RADIUS (normalised)."""
        radius = CONFIDENCE_RADIUS / AB_UNITS
        distance_sq = squared_distances_to_cells(ab, self.ab_bins)
        return (probabilities * torch.exp(-distance_sq / (2 * radius ** 2))).sum(dim=1, keepdim=True)


def squared_distances_to_cells(ab: torch.Tensor, ab_bins: torch.Tensor) -> torch.Tensor:
    """|cell - ab|^2 for every cell, [N, 2, H, W] and [Q, 2] -> [N, Q, H, W]: |cell|^2 - 2 cell.ab + |ab|^2, the
    cross term as one 1x1 conv."""
    cells = ab_bins[:, :, None, None]
    return (cells.square().sum(dim=1)[None] - 2 * nn.functional.conv2d(ab, cells)
            + ab.square().sum(dim=1, keepdim=True))


def _expectation(logits: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    """softmax(logits, dim=1) . values ([N, Q, H, W], [Q, C] -> [N, C, H, W]), written so that the exported graph
    is fast: onnxruntime's Softmax over the channel axis of a 4-D tensor took 143 of the 218 ms of two windows
    (and its Einsum 20 more); max, exp and one 1x1 conv giving the weighted sum and the sum at once take ~20 ms."""
    weights = torch.exp(logits - logits.amax(dim=1, keepdim=True))
    kernel = torch.cat([values.t(), values.new_ones(1, values.shape[0])])[:, :, None, None]
    sums = nn.functional.conv2d(weights, kernel)
    return sums[:, :-1] / sums[:, -1:]


class DecodedColorizer(nn.Module):
    """The exported graph: normalised L -> normalised ab at full size, decoding included (forward() of either
    head followed by decode() at the given temperature, calibration and pool; with pool > 1 the head itself runs
    on the averaged features, which decode()'s averaging of the logits equals by linearity)."""

    def __init__(self, model: Colorizer, temperature: float = 1.0, calibration: float = 0.0, pool: int = 1,
                 confidence: float = 0.0, neutral: float = 0.0, gain: float = 1.0) -> None:
        super().__init__()
        if pool < 1 or (pool > 1 and model.head != "classification"):
            raise ValueError(f"pool must be 1, or a whole number >= 1 with the classification head, not {pool}")
        self.model, self.temperature, self.calibration, self.pool = model, temperature, calibration, pool
        self.confidence, self.neutral, self.gain = confidence, neutral, gain

    def forward(self, lightness: torch.Tensor) -> torch.Tensor:
        return self.model.decode_pooled(self.model(lightness, self.pool), self.temperature, self.calibration,
                                        self.pool, self.confidence, neutral=self.neutral, gain=self.gain)
