"""CIELAB -> sRGB in torch, the inverse of the colour contract's conversion (OpenCV float32 Lab2BGR), so a loss
can score the colours the runtime writes: RGB from the gray photo's L and the predicted ab."""
from __future__ import annotations

import torch

# OpenCV's D65 white point and XYZ -> linear sRGB matrix (rows R, G, B), as in its Lab2BGR.
_WHITE_X, _WHITE_Z = 0.950456, 1.088754
_XYZ_TO_RGB = torch.tensor([[3.240479, -1.53715, -0.498535],
                            [-0.969256, 1.875991, 0.041556],
                            [0.055648, -0.204043, 1.057311]])
_EPSILON = 6 / 29  # the CIELAB f() switches from cube to line here


def _f_inverse(t: torch.Tensor) -> torch.Tensor:
    return torch.where(t > _EPSILON, t.clamp_min(_EPSILON) ** 3, (t - 16 / 116) * (3 * _EPSILON ** 2))


def lab_to_bgr(lightness: torch.Tensor, ab: torch.Tensor) -> torch.Tensor:
    """L [N, 1, H, W] (0..100) and ab [N, 2, H, W] (CIELAB units) -> BGR [N, 3, H, W] in [0, 1], clipped to the
    gamut as an 8-bit file would be."""
    fy = (lightness + 16) / 116
    fx, fz = fy + ab[:, :1] / 500, fy - ab[:, 1:] / 200
    xyz = torch.cat([_f_inverse(fx) * _WHITE_X, _f_inverse(fy), _f_inverse(fz) * _WHITE_Z], dim=1)
    linear = torch.einsum("rc,nchw->nrhw", _XYZ_TO_RGB.to(xyz), xyz).clamp(0, 1)
    srgb = torch.where(linear > 0.0031308, 1.055 * linear.clamp_min(0.0031308) ** (1 / 2.4) - 0.055, 12.92 * linear)
    return srgb.flip(1)
