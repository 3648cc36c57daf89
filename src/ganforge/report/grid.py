"""Image grids written by hand (torchvision's make_grid is not available on every build)."""

from __future__ import annotations

from pathlib import Path

import torch
from PIL import Image

from ..data.images import to_pil


def image_grid(images: torch.Tensor, nrow: int, padding: int = 2, pad_value: float = 1.0) -> Image.Image:
    """Images (N, C, H, W) in [-1, 1] laid out `nrow` per row with a `padding`-pixel border."""
    n, c, h, w = images.shape
    rows = -(-n // nrow)
    grid = torch.full((c, rows * (h + padding) + padding, nrow * (w + padding) + padding), pad_value)
    for i, img in enumerate(images.detach().float().cpu()):
        r, k = divmod(i, nrow)
        top, left = padding + r * (h + padding), padding + k * (w + padding)
        grid[:, top : top + h, left : left + w] = img
    return to_pil(grid)


def save_grid(images: torch.Tensor, path: Path, nrow: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    image_grid(images, nrow).save(path)
    return path
