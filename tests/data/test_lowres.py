"""Bicubic downscaling for super-resolution and the plain upscalers: sizes, constants, and Pillow's BICUBIC."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from ganforge.data.lowres import bicubic_down, bicubic_up, nearest_up
from ganforge.filters import gaussian_blur


def to_levels(images: torch.Tensor) -> np.ndarray:
    """(1, C, H, W) in [-1, 1] -> an (H, W, C) float array of 0..255 values."""
    return ((images[0].permute(1, 2, 0).double().numpy() + 1) * 127.5).astype(np.float32)


def pillow_resize(images: torch.Tensor, size: tuple[int, int]) -> np.ndarray:
    """Pillow's BICUBIC resize of an 8-bit RGB image to (height, width), as 0..255 floats."""
    array = np.round(to_levels(images)).clip(0, 255).astype(np.uint8)
    resized = Image.fromarray(array).resize((size[1], size[0]), Image.BICUBIC)
    return np.asarray(resized, dtype=np.float32)


@pytest.fixture(scope="module")
def photo_like() -> torch.Tensor:
    """A smooth random 8-bit RGB image, 96 x 120, (1, 3, H, W) in [-1, 1]: coarse noise enlarged and blurred,
    with detail at every scale from a few pixels up, as a photograph has."""
    generator = torch.Generator().manual_seed(1)
    coarse = torch.rand(1, 3, 24, 30, generator=generator) * 2 - 1
    fine = torch.rand(1, 3, 96, 120, generator=generator) * 2 - 1
    x = F.interpolate(coarse, size=(96, 120), mode="bicubic", align_corners=False) + 0.3 * gaussian_blur(fine, 1.0)
    x = 0.9 * x / x.abs().max()
    return torch.round((x + 1) * 127.5) / 127.5 - 1


@pytest.mark.parametrize("scale", [1, 2, 3, 4])
def test_sizes(scale):
    x = torch.rand(2, 3, 48, 36) * 2 - 1
    assert bicubic_down(x, scale).shape == (2, 3, 48 // scale, 36 // scale)
    assert bicubic_up(x, scale).shape == (2, 3, 48 * scale, 36 * scale)
    assert nearest_up(x, scale).shape == (2, 3, 48 * scale, 36 * scale)
    assert bicubic_down(torch.zeros(1, 1, 50, 37), 4).shape == (1, 1, 12, 9)  # not a multiple: rounded down


@pytest.mark.parametrize("channels", [1, 3])
def test_a_constant_image_stays_constant(channels):
    x = torch.full((2, channels, 32, 24), 0.3)
    for out in (bicubic_down(x, 4), bicubic_up(x, 3), nearest_up(x, 2)):
        assert torch.allclose(out, torch.full_like(out, 0.3), atol=1e-6)


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_bicubic_down_is_pillow_s_bicubic_to_within_a_grey_level(photo_like, scale):
    height, width = photo_like.shape[-2:]
    ours = to_levels(bicubic_down(photo_like, scale))
    pillows = pillow_resize(photo_like, (height // scale, width // scale))
    difference = np.abs(ours - pillows)
    # measured (torch 2.13, Pillow 13): mean 0.27..0.29, largest 0.82..0.92 grey levels
    assert difference.mean() < 0.5
    assert difference.max() < 1.5


@pytest.mark.parametrize("scale", [2, 4])
def test_bicubic_up_is_pillow_s_bicubic_to_within_a_grey_level(photo_like, scale):
    small = torch.round((bicubic_down(photo_like, scale) + 1) * 127.5) / 127.5 - 1
    height, width = small.shape[-2:]
    difference = np.abs(to_levels(bicubic_up(small, scale)) - pillow_resize(small, (height * scale, width * scale)))
    assert difference.mean() < 0.5  # measured 0.32
    assert difference.max() < 1.5  # measured 1.04..1.06


def test_bicubic_down_filters_what_the_small_grid_cannot_hold():
    """Antialiasing: stripes 3.3 pixels apart, finer than a 4x smaller grid can hold, shrink to near grey."""
    stripes = (0.8 * torch.cos(2 * math.pi * 0.3 * torch.arange(64.0))).expand(1, 1, 64, 64)
    assert bicubic_down(stripes, 4).abs().max() < 0.1  # measured 0.05
    assert F.interpolate(stripes, scale_factor=0.25, mode="bicubic").abs().max() > 0.5  # without: aliased (0.67)


def test_upscaling_overshoot_is_clamped():
    rows, cols = torch.meshgrid(torch.arange(8), torch.arange(8), indexing="ij")
    board = (((rows // 2 + cols // 2) % 2) * 2 - 1).float()[None, None]
    out = bicubic_up(board, 4)
    assert out.min() >= -1 and out.max() <= 1
    assert (out == 1).any() and (out == -1).any()


@pytest.mark.parametrize("scale", [2, 3])
def test_nearest_up_repeats_each_pixel_scale_by_scale_times(scale):
    x = torch.rand(2, 3, 5, 7) * 2 - 1
    out = nearest_up(x, scale)
    rows = torch.arange(5 * scale) // scale
    cols = torch.arange(7 * scale) // scale
    assert torch.equal(out, x[:, :, rows][:, :, :, cols])
    for i in range(scale):
        for j in range(scale):
            assert torch.equal(out[:, :, i::scale, j::scale], x)


def test_dtype_is_kept():
    x = torch.rand(1, 3, 16, 16, dtype=torch.float64) * 2 - 1
    assert bicubic_down(x, 2).dtype == torch.float64
    assert bicubic_up(x.half(), 2).dtype == torch.float16


@pytest.mark.parametrize("scale", [0, -2, 1.5, True])
def test_bad_scale_raises(scale):
    with pytest.raises(ValueError, match="scale"):
        bicubic_down(torch.zeros(1, 1, 8, 8), scale)


def test_bad_shape_raises():
    with pytest.raises(ValueError, match="N, C, H, W"):
        bicubic_up(torch.zeros(3, 8, 8), 2)
    with pytest.raises(ValueError, match="smaller than the scale"):
        bicubic_down(torch.zeros(1, 1, 3, 8), 4)
