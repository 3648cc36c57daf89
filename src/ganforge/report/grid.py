"""Image grids written by hand (torchvision's make_grid is not available on every build)."""

from __future__ import annotations

from pathlib import Path

import torch
from PIL import Image

from ..data.images import to_pil
from ..files import atomic_write


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
    """The grid written atomically (files.atomic_write), in the format its file name asks for."""
    image = image_grid(images, nrow)
    fmt = Image.registered_extensions().get(path.suffix.lower(), "PNG")
    if fmt == "JPEG" and image.mode not in ("L", "RGB"):
        image = image.convert("RGB")
    return atomic_write(path, lambda f: image.save(f, format=fmt))
