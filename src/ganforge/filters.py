"""Gaussian filtering, shared by the SSIM metric, the blur degradation and the shapes renderer."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

EDGES = ("reflect", "replicate")


def gaussian_taps(
    sigma: float, radius: int | None = None, dtype: torch.dtype = torch.float32, device: torch.device | None = None
) -> torch.Tensor:
    """The normalised 1-D Gaussian sampled at whole pixels: 2 * radius + 1 taps, radius ceil(3 sigma) (at
    least 1) unless given. Below sigma = 1 its spread is a little under sigma."""
    radius = max(1, math.ceil(3.0 * sigma)) if radius is None else radius
    offsets = torch.arange(-radius, radius + 1, dtype=torch.float64)
    taps = torch.exp(-0.5 * (offsets / sigma) ** 2)
    return (taps / taps.sum()).to(dtype=dtype, device=device)


def edge_index(n: int, radius: int, edges: str, device: torch.device) -> torch.Tensor:
    """Indices that pad a length-`n` axis by `radius` on each side, for any radius: `reflect` mirrors
    without repeating the edge (as `F.pad(mode="reflect")`, and again when radius >= n), `replicate`
    repeats the edge."""
    index = torch.arange(-radius, n + radius, device=device)
    if edges == "replicate" or n == 1:
        return index.clamp(0, n - 1)
    period = 2 * (n - 1)
    index = index.remainder(period)
    return torch.where(index < n, index, period - index)


def gaussian_blur(x: torch.Tensor, sigma: float, edges: str = "reflect") -> torch.Tensor:
    """Blur images (N, C, H, W) with a Gaussian of `sigma` pixels, as two 1-D depthwise convolutions."""
    if edges not in EDGES:
        raise ValueError(f"edges must be one of {', '.join(EDGES)}, got {edges!r}")
    channels, height, width = x.shape[1:]
    taps = gaussian_taps(sigma, dtype=x.dtype, device=x.device)
    radius = (taps.numel() - 1) // 2
    x = x.index_select(3, edge_index(width, radius, edges, x.device))
    x = F.conv2d(x, taps.view(1, 1, 1, -1).expand(channels, 1, 1, -1), groups=channels)
    x = x.index_select(2, edge_index(height, radius, edges, x.device))
    return F.conv2d(x, taps.view(1, 1, -1, 1).expand(channels, 1, -1, 1), groups=channels)
