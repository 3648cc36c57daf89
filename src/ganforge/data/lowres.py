"""Low-resolution versions of a batch for super-resolution (SR), and the plain upscalers SR is compared with.

Images are (N, C, H, W) in [-1, 1]; results are clamped to [-1, 1] and keep the input's dtype and device.

:func:`bicubic_down` is the "bicubic" degradation of the SR literature (Set5, DIV2K's ``x4`` inputs):
MATLAB's ``imresize``, which widens the bicubic kernel (a = -0.5) by the factor when it shrinks, so that
it filters out what the smaller grid cannot hold. PyTorch's ``antialias=True`` bicubic does the same, as
Pillow's ``BICUBIC`` resize does (tests/data/test_lowres.py measures the difference from Pillow: well
under one grey level); without it, a 4x shrink would sample every 4th pixel of a barely smoothed image
and alias. :func:`bicubic_up` uses the same kernel, as MATLAB's bicubic upscaling does.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def _check(x: torch.Tensor, scale: int) -> None:
    if x.ndim != 4:
        raise ValueError(f"needs images shaped (N, C, H, W), got shape {tuple(x.shape)}")
    if isinstance(scale, bool) or int(scale) != scale or scale < 1:
        raise ValueError(f"scale must be a whole number >= 1, got {scale!r}")


def _resize(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Antialiased bicubic to `size`, in float32 (float64 stays float64), clamped, in x's dtype."""
    work = x if x.dtype in (torch.float32, torch.float64) else x.float()
    out = F.interpolate(work, size=size, mode="bicubic", align_corners=False, antialias=True)
    return out.clamp_(-1.0, 1.0).to(x.dtype)


def bicubic_down(x: torch.Tensor, scale: int) -> torch.Tensor:
    """Shrink (N, C, H, W) to (H // scale, W // scale) with antialiased bicubic (MATLAB's imresize)."""
    _check(x, scale)
    height, width = x.shape[-2:]
    if height < scale or width < scale:
        raise ValueError(f"images of {height} x {width} are smaller than the scale {scale}")
    return _resize(x, (height // int(scale), width // int(scale)))


def bicubic_up(x: torch.Tensor, scale: int) -> torch.Tensor:
    """Enlarge (N, C, h, w) to (h * scale, w * scale) with bicubic (a = -0.5): the SR baseline."""
    _check(x, scale)
    height, width = x.shape[-2:]
    return _resize(x, (height * int(scale), width * int(scale)))


def nearest_up(x: torch.Tensor, scale: int) -> torch.Tensor:
    """Enlarge (N, C, h, w) to (h * scale, w * scale) by repeating each pixel scale x scale times."""
    _check(x, scale)
    scale = int(scale)
    return x.repeat_interleave(scale, dim=-2).repeat_interleave(scale, dim=-1).clamp(-1.0, 1.0)
