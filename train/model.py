"""The colorize network: ResNet-18's first six children as encoder (L in), a small conv decoder (ab out)."""
from __future__ import annotations

import torch
from torch import nn
from torchvision.models import resnet18


def _conv_bn_relu(in_channels: int, out_channels: int) -> list[nn.Module]:
    return [nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True)]


def _upsample() -> nn.Module:
    return nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False)


class Colorizer(nn.Module):
    """Normalised L [N, 1, H, W] -> normalised ab [N, 2, H, W]; H and W multiples of 8. No pretrained weights."""

    def __init__(self) -> None:
        super().__init__()
        resnet = resnet18(weights=None)
        resnet.conv1 = nn.Conv2d(1, 64, kernel_size=7, stride=2, padding=3, bias=False)
        # conv1, bn1, relu, maxpool, layer1, layer2 -> 128 channels at 1/8 size
        self.encoder = nn.Sequential(*list(resnet.children())[:6])
        self.decoder = nn.Sequential(
            *_conv_bn_relu(128, 128), _upsample(),
            *_conv_bn_relu(128, 64), *_conv_bn_relu(64, 64), _upsample(),
            *_conv_bn_relu(64, 32), nn.Conv2d(32, 2, 3, padding=1), _upsample(),
        )

    def forward(self, lightness: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(lightness))
