"""JPEG compression simulated on the batch's own device, as baseline JPEG with libjpeg's settings does it:
8-bit pixels, YCbCr (JFIF), chroma averaged over 2x2 pixels (4:2:0, Pillow's default for RGB), 8x8 block
DCT, the standard quantisation tables scaled by quality as libjpeg scales them, rounding, and back again
with the decoder's triangular chroma upsampling.

It stands in for an encode/decode through Pillow (which runs on the CPU, one image at a time) when a
restoration GAN degrades its batches on the fly: what remains apart from libjpeg is its integer DCT
rounding, so the result is within a few grey levels of Pillow's (tests/data/test_jpeg.py measures it).
"""

from __future__ import annotations

import functools
import math

import torch
import torch.nn.functional as F

# ITU T.81 Annex K: the luminance and chrominance quantisation tables at quality 50
LUMA = [
    16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56,
    14, 17, 22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
    49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99,
]  # fmt: skip
CHROMA = [
    17, 18, 24, 47, 99, 99, 99, 99, 18, 21, 26, 66, 99, 99, 99, 99, 24, 26, 56, 99, 99, 99, 99, 99,
    47, 66, 99, 99, 99, 99, 99, 99, *[99] * 32,
]  # fmt: skip
TO_YCBCR = [[0.299, 0.587, 0.114], [-0.168736, -0.331264, 0.5], [0.5, -0.418688, -0.081312]]


def quantisation_table(base: list[int], quality: int) -> torch.Tensor:
    """libjpeg's `jpeg_quality_scaling`: the base table scaled for `quality` (1..100), entries 1..255."""
    scale = 5000 // quality if quality < 50 else 200 - 2 * quality
    return torch.tensor([min(max((q * scale + 50) // 100, 1), 255) for q in base], dtype=torch.float32).view(8, 8)


@functools.cache
def _constants(quality: int, device: torch.device) -> tuple[torch.Tensor, ...]:
    """The DCT matrix (the orthonormal 8-point DCT-II, which is JPEG's FDCT with its 1/4 C(u) C(v)), the
    two tables and the colour matrices, made once per device (so that a CUDA graph copies nothing)."""
    k = torch.arange(8, dtype=torch.float64)
    dct = torch.cos((2 * k[None, :] + 1) * k[:, None] * math.pi / 16) * math.sqrt(2 / 8)
    dct[0] /= math.sqrt(2)
    to_ycbcr = torch.tensor(TO_YCBCR, dtype=torch.float64)
    made = (dct, quantisation_table(LUMA, quality), quantisation_table(CHROMA, quality), to_ycbcr, to_ycbcr.inverse())
    return tuple(t.float().to(device) for t in made)


def _blocks_roundtrip(plane: torch.Tensor, dct: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
    """DCT, quantise, dequantise and inverse DCT of each 8x8 block of `plane` (N, H, W), H and W multiples
    of 8, values level-shifted to around 0."""
    n, h, w = plane.shape
    blocks = plane.view(n, h // 8, 8, w // 8, 8).transpose(2, 3)  # (N, H/8, W/8, 8, 8)
    coefficients = dct @ blocks @ dct.T
    restored = dct.T @ (torch.round(coefficients / table) * table) @ dct
    return restored.transpose(2, 3).reshape(n, h, w)


def jpeg(images: torch.Tensor, quality: int) -> torch.Tensor:
    """`images` (N, C, H, W) in [-1, 1], C 1 (grey) or 3 (RGB), as JPEG at `quality` (1..100) would leave
    them, on their own device, in [-1, 1] on the 8-bit grid."""
    if images.shape[1] not in (1, 3):
        raise ValueError(f"jpeg needs 1 or 3 channels, got {images.shape[1]}")
    n, channels, h, w = images.shape
    x = torch.round((images.float().clamp(-1, 1) + 1) * 127.5)  # the 8-bit pixels an encoder is given
    pad_h, pad_w = -h % 16, -w % 16  # whole 16x16 macroblocks, edges repeated as libjpeg does
    x = F.pad(x, (0, pad_w, 0, pad_h), mode="replicate") if pad_h or pad_w else x
    dct, luma_table, chroma_table, to_ycbcr, to_rgb = _constants(quality, x.device)
    if channels == 1:
        out = _blocks_roundtrip(x[:, 0] - 128, dct, luma_table)[:, None] + 128
    else:
        ycbcr = torch.einsum("ij,njhw->nihw", to_ycbcr, x)
        y = _blocks_roundtrip(ycbcr[:, 0] - 128, dct, luma_table)
        chroma = F.avg_pool2d(ycbcr[:, 1:], 2)  # 4:2:0; the offset of 128 cancels out
        hh, ww = chroma.shape[-2:]
        chroma = F.pad(chroma, (0, -ww % 8, 0, -hh % 8), mode="replicate")
        chroma = _blocks_roundtrip(chroma.flatten(0, 1), dct, chroma_table).view(n, 2, *chroma.shape[-2:])
        chroma = F.interpolate(chroma[..., :hh, :ww], scale_factor=2, mode="bilinear", align_corners=False)
        ycbcr = torch.cat([y[:, None] + 128, chroma], dim=1)
        out = torch.einsum("ij,njhw->nihw", to_rgb, ycbcr)
    out = torch.round(out[..., :h, :w]).clamp(0, 255)
    return (out / 127.5 - 1).to(images.dtype)
