"""Scores of super-resolved images against their targets, computed as the SR literature reports them.

Papers (SRCNN, EDSR, RCAN, ESRGAN, SwinIR) score 8-bit images: both images are rounded to 8-bit levels, as
saved to disk, the ``border`` = scale pixels on each side are cropped (a net cannot know what lies beyond
the edge), and PSNR and SSIM are taken on the luma Y of ITU-R BT.601 as MATLAB's ``rgb2ycbcr`` gives it
(``psnr_y``, ``ssim_y``, the numbers in the tables), and on RGB. Values here are on [0, 1] with data range
1, which gives the same numbers as [0, 255] with data range 255. SSIM is Wang et al. 2004's: Gaussian
window 11, sigma 1.5, K1 0.01, K2 0.03, over the 'valid' positions only (metrics/image.py's :func:`ssim`,
as BasicSR's ``calculate_ssim`` and the MATLAB ``ssim_index`` compute it); an RGB image's SSIM is the mean
over its channels. Y is used as computed from the 8-bit RGB, not rounded again (BasicSR's and RCAN's
evaluation; rounding Y as ``rgb2ycbcr`` on uint8 does moves PSNR by about 0.01 dB).

Identical images have infinite PSNR: it is capped at ``PSNR_MAX_DB`` (100 dB), so batch means stay finite.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, Protocol

import torch
from torch import Tensor

from ..data.lowres import bicubic_up, nearest_up
from ..errors import UserError
from .distribution import fid
from .features import extract
from .image import PSNR_MAX_DB, psnr, ssim

__all__ = ["PSNR_MAX_DB", "SSIM_WINDOW", "evaluate_upscaling", "luma", "quantise", "scores"]

# MATLAB's rgb2ycbcr: Y = 16 + 65.481 R + 128.553 G + 24.966 B for R, G, B in [0, 1], Y on [0, 255].
_Y_OFFSET = 16.0
_Y_WEIGHTS = (65.481, 128.553, 24.966)

SSIM_WINDOW = 11  # the Gaussian window's side; images must be at least this large after the border crop


def _check(x: Tensor, name: str) -> None:
    if x.dim() != 4 or x.shape[1] not in (1, 3):
        raise ValueError(f"{name} must be shaped (N, C, H, W) with C = 1 or 3, got shape {tuple(x.shape)}")
    if not x.is_floating_point():
        raise ValueError(f"{name} must be a float tensor in [-1, 1], got {x.dtype}")


def quantise(x: Tensor) -> Tensor:
    """Images in [-1, 1] as saved to 8-bit files (clamped and rounded as data/images.to_pil does), on [0, 1]."""
    levels = ((x.detach().float().clamp(-1.0, 1.0) + 1.0) * 127.5).round()
    return levels / 255.0


def luma(x: Tensor) -> Tensor:
    """(N, 3, H, W) in [-1, 1] -> (N, 1, H, W): BT.601 luma as MATLAB's ``rgb2ycbcr``, on [0, 1].

    ``Y = (16 + 65.481 R + 128.553 G + 24.966 B) / 255`` with R, G, B in [0, 1], so black is 16/255 and
    white 235/255. A 1-channel image is taken to be luma already and returned mapped to [0, 1].
    """
    _check(x, "x")
    return _luma01((x.float() + 1.0) / 2.0)


def _luma01(x01: Tensor) -> Tensor:
    """:func:`luma` of images already on [0, 1]."""
    if x01.shape[1] == 1:
        return x01
    r, g, b = x01.unbind(dim=1)
    y = _Y_OFFSET + _Y_WEIGHTS[0] * r + _Y_WEIGHTS[1] * g + _Y_WEIGHTS[2] * b
    return (y / 255.0).unsqueeze(1)


def scores(out: Tensor, target: Tensor, border: int) -> dict[str, float]:
    """PSNR (dB) and SSIM of super-resolved `out` against `target`, both (N, C, H, W) in [-1, 1], C = 1 or 3.

    Both are rounded to 8-bit levels and lose `border` pixels on each side (the SR convention: border =
    scale). Returns the batch means ``psnr_y`` and ``ssim_y`` (on luma, :func:`luma`) and ``psnr`` and
    ``ssim`` (on the channels as they are). PSNR is capped at ``PSNR_MAX_DB`` for identical images.
    """
    _check(out, "out")
    _check(target, "target")
    if out.shape != target.shape:
        raise ValueError(f"out and target shapes differ: {tuple(out.shape)} vs {tuple(target.shape)}")
    if border < 0:
        raise ValueError(f"border must be >= 0, got {border}")
    h, w = out.shape[-2:]
    if min(h, w) - 2 * border < SSIM_WINDOW:
        raise ValueError(
            f"{h}x{w} images less a border of {border} are smaller than the {SSIM_WINDOW}-pixel SSIM window"
        )
    crop = (slice(None), slice(None), slice(border, h - border), slice(border, w - border))
    with torch.no_grad():
        x, y = quantise(out)[crop], quantise(target)[crop]
        x_y, y_y = _luma01(x), _luma01(y)
        return {
            "psnr_y": psnr(x_y, y_y, data_range=1.0).mean().item(),
            "ssim_y": ssim(x_y, y_y, data_range=1.0).mean().item(),
            "psnr": psnr(x, y, data_range=1.0).mean().item(),
            "ssim": ssim(x, y, data_range=1.0).mean().item(),
        }


class Upscales(Protocol):
    """What evaluate_upscaling needs of a generator (inference/generator.py's Generator is one)."""

    def upscale(self, images: Tensor) -> Tensor: ...


def whole_images(dataset: Any) -> Iterator[tuple[str, Tensor | None, Tensor]]:
    """(name, low-resolution image or None, high-resolution image) of each image of a data set: whole
    photographs where it has them (data/patches.py), else its items."""
    if hasattr(dataset, "photographs"):
        yield from dataset.photographs()
        return
    for i in range(len(dataset)):
        item = dataset[i]
        yield (str(i), *item) if isinstance(item, (tuple, list)) else (str(i), None, item)


def _patches(images: Tensor, side: int) -> Tensor:
    """The non-overlapping side x side squares of images (N, C, H, W), for FID."""
    squares = images.unfold(2, side, side).unfold(3, side, side)  # N, C, rows, cols, side, side
    return squares.permute(0, 2, 3, 1, 4, 5).reshape(-1, images.shape[1], side, side)


def evaluate_upscaling(
    g: Upscales, dataset: Any, make_inputs: Callable[[Tensor], Tensor], scale: int,
    extractor: torch.nn.Module | None = None, limit: int = 10**9, patch: int = 64,
) -> dict[str, dict]:  # fmt: skip
    """Mean scores (`scores`, border = scale) of the model and of bicubic and nearest-neighbour enlargement
    on up to `limit` whole held-out images, each first cropped to a multiple of the scale; the inputs are the
    data set's own low-resolution images or `make_inputs(image)`. With an `extractor`, the FID of each one's
    `patch`-pixel squares against the originals' too."""
    sums: dict[str, dict[str, float]] = {}
    feats: dict[str, list[Tensor]] = {}
    count = 0
    for _, low, high in whole_images(dataset):
        if count >= limit:
            break
        h, w = high.shape[-2] // scale * scale, high.shape[-1] // scale * scale
        high = high[None, :, :h, :w].float()
        low = make_inputs(high) if low is None else low[None].float()
        made = {"model": g.upscale(low).float(), "baseline: bicubic": bicubic_up(low, scale),
                "baseline: nearest": nearest_up(low, scale)}  # fmt: skip
        for name, out in made.items():
            row = sums.setdefault(name, {})
            for metric, value in scores(out, high, border=scale).items():
                row[metric] = row.get(metric, 0.0) + value
        if extractor is not None and min(h, w) >= patch:
            for name, images in {**made, "targets": high}.items():
                feats.setdefault(name, []).append(extract(extractor, _patches(images, patch)))
        count += 1
    if not count:
        raise UserError("the evaluation split holds no images; give --data a folder with test/ or val/ images")
    results = {name: {m: v / count for m, v in row.items()} | {"images": count} for name, row in sums.items()}
    if feats and sum(len(f) for f in feats["targets"]) >= 2:
        real = torch.cat(feats["targets"])
        for name, row in results.items():
            row["fid"] = fid(real, torch.cat(feats[name]))
            row["fid_patches"] = len(real)
    return results
