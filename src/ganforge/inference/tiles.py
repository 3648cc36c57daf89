"""Super-resolution of images too large for one pass: the input cut into tiles, each upscaled on its own.

Why: a network's activations grow with the image (an SRResNet of width 64 at x4 holds 64 channels at 16x
the input's pixels), so a large photograph does not fit in memory in one pass. Cutting it into tiles bounds
memory by the tile, not the image. A tile seen alone would meet the convolutions' zero padding at its
edges and show seams, so each is run with `overlap` pixels of real context around it, and only its core
is kept: with `overlap` at least the network's receptive radius (:func:`receptive_radius`), every kept
output pixel sees exactly what it would in the whole image, so the tiled result equals the untiled one.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

__all__ = ["receptive_radius", "tile_spans", "upscale_tiled"]


def receptive_radius(blocks: int) -> int:
    """Input pixels beyond a tile's edge that an SRResNet of `blocks` residual blocks reads: 2*blocks + 3.

    The architecture of models/srgan.py: at the input's resolution a 3x3 head conv (1 pixel), two 3x3
    convs per block (2 each) and the upsampler's first 3x3 conv (1); after pixel shuffle, the 3x3 convs at
    higher resolution (x4's second upsampler conv at 2x, then two at full scale) read at most one more
    input pixel between them (x4: 1/2 + 2/4, x2: 2/2, x3: 2/3). The bilinear enlargement of the input reads 1.
    Measured in tests/models/test_tiles.py: exact for x2 and x4, and one pixel less would not do at x3.
    """
    if blocks < 0:
        raise ValueError(f"blocks must be >= 0, got {blocks}")
    return 2 * blocks + 3


def tile_spans(size: int, tile: int) -> list[tuple[int, int]]:
    """`size` pixels cut into the fewest spans (start, stop) of at most `tile` pixels, as even as can be
    (a 75-pixel side in tiles of 32: 25 + 25 + 25, not 32 + 32 + 11)."""
    if tile < 1:
        raise ValueError(f"tile must be >= 1, got {tile}")
    count = -(-size // tile)
    bounds = [i * size // count for i in range(count + 1)]
    return list(zip(bounds[:-1], bounds[1:], strict=True))


def upscale_tiled(
    net: Callable[[Tensor], Tensor], image: Tensor, scale: int, tile: int = 256, overlap: int = 16
) -> Tensor:
    """`net` applied to `image` (N, C, H, W) a tile at a time: (N, C', H*scale, W*scale).

    Tiles of at most `tile` x `tile` input pixels are each read with `overlap` pixels of context on every
    side (fewer at the image's border) and only their cores are pasted, so with `overlap` >= the net's
    receptive radius the result equals ``net(image)`` up to float rounding, seams included. An image that
    fits in one tile is run whole. Runs under ``torch.no_grad``; the output is allocated once, on the
    input's device, and `net` sees at most (tile + 2*overlap)**2 pixels at a time.
    """
    if tile < 1:
        raise ValueError(f"tile must be >= 1 input pixel, got {tile}")
    if overlap < 0:
        raise ValueError(f"overlap must be >= 0 pixels, got {overlap}")
    if scale < 1:
        raise ValueError(f"scale must be a positive integer, got {scale}")
    if image.dim() != 4:
        raise ValueError(f"image must be shaped (N, C, H, W), got shape {tuple(image.shape)}")
    n, _, height, width = image.shape
    with torch.no_grad():
        if height <= tile and width <= tile:
            return _checked(net(image), image.shape, scale)
        out: Tensor | None = None
        for top, bottom in tile_spans(height, tile):
            for left, right in tile_spans(width, tile):
                y0, y1 = max(top - overlap, 0), min(bottom + overlap, height)
                x0, x1 = max(left - overlap, 0), min(right + overlap, width)
                part = image[:, :, y0:y1, x0:x1]
                result = _checked(net(part), part.shape, scale)
                if out is None:
                    shape = (n, result.shape[1], height * scale, width * scale)
                    out = torch.empty(shape, dtype=result.dtype, device=image.device)
                core = result[
                    :, :, (top - y0) * scale : (bottom - y0) * scale, (left - x0) * scale : (right - x0) * scale
                ]
                out[:, :, top * scale : bottom * scale, left * scale : right * scale] = core
                del part, result, core
    assert out is not None  # at least two tiles were run
    return out


def _checked(result: Tensor, shape: torch.Size, scale: int) -> Tensor:
    """The net's output, if it is (N, C', h*scale, w*scale) for an input `shape` (N, C, h, w)."""
    n, _, h, w = shape
    if result.dim() != 4 or result.shape[0] != n or tuple(result.shape[2:]) != (h * scale, w * scale):
        raise ValueError(
            f"net turned an input of shape {tuple(shape)} into {tuple(result.shape)}; expected "
            f"({n}, C, {h * scale}, {w * scale}) for scale {scale}"
        )
    return result
