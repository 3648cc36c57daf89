import itertools

import pytest
import torch
from torch import nn

from ganforge.api import resolve_config
from ganforge.errors import UserError
from ganforge.models.unet import (
    UP_MODES,
    DoubleConv,
    DoubleConvDiscriminator,
    RestorationUNet,
    check_unet_size,
    unet_output_size,
)


@pytest.mark.parametrize(
    "padding, batch_norm, up_mode", list(itertools.product([False, True], [False, True], UP_MODES))
)
def test_every_combination_builds_and_runs(padding, batch_norm, up_mode):
    g = RestorationUNet(3, 2, n_levels=3, padding=padding, batch_norm=batch_norm, up_mode=up_mode, n_channels=32)
    size = 32 if padding else 44
    y = g(torch.randn(2, 3, size, size))
    assert y.shape == (2, 2, g.output_size(size), g.output_size(size))
    assert (y.shape[-1] == size) == padding  # unpadded convolutions shrink the output
    assert any(isinstance(m, nn.BatchNorm2d) for m in g.modules()) == batch_norm
    y.mean().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in g.parameters())


def test_channels_double_to_n_channels_and_blocks_are_residual():
    g = RestorationUNet(1, 1, n_levels=4, padding=True, n_channels=128)
    assert [level.body[-2].out_channels for level in g.down] == [16, 32, 64, 128]
    assert [level.conv.body[-2].out_channels for level in g.up] == [64, 32, 16]
    assert all(isinstance(level.project, nn.Conv2d) for level in g.down)  # channels change: 1x1 projection
    assert g.last.kernel_size == (1, 1) and g.last.out_channels == 1
    block = DoubleConv(4, 4, padding=True, batch_norm=False)
    for p in block.body.parameters():
        nn.init.zeros_(p)
    x = torch.randn(1, 4, 8, 8)
    assert torch.equal(block(x), x)  # a zeroed body leaves the residual path: output = input


def test_unpadded_sizes_follow_the_paper_arithmetic():
    # every double convolution loses 4 pixels; 2 levels: s -> s-4 -> /2 -> -4 -> x2 -> -4
    assert unet_output_size(28, 2, padding=False) == 12
    assert unet_output_size(572, 5, padding=False) == 388  # Ronneberger et al.'s 572 -> 388
    assert unet_output_size(64, 4, padding=True) == 64
    assert unet_output_size(30, 2, padding=False) == 14 and unet_output_size(27, 2, padding=False) is None


def test_invalid_size_names_the_nearest_valid_sizes():
    with pytest.raises(UserError, match=r"use image size 92\b"):
        check_unet_size(64, 4, padding=False)
    with pytest.raises(UserError, match=r"use image size 56 or 64"):
        check_unet_size(60, 4, padding=True)


@pytest.mark.parametrize(
    "override, needle",
    [
        ("model.up_mode=nearest", "model.up_mode"),
        ("model.n_channels=100", "model.n_channels"),
        ("model.width=8", "model.width"),  # the U-Net family's D width is model.d_width
    ],
)
def test_bad_options_name_the_key(override, needle):
    with pytest.raises(UserError, match=needle):
        resolve_config("unet-restore", overrides=[override])


def test_outputs_too_small_for_the_discriminator_are_refused():
    with pytest.raises(UserError, match="16x16"):
        resolve_config("unet-restore", overrides=["model.padding=false", "model.n_levels=2", "data.image_size=28"])


@pytest.mark.parametrize("size", [16, 48, 64, 100])
def test_discriminator_accepts_the_run_size(size):
    d = DoubleConvDiscriminator(3, size, width=8)
    assert d(torch.randn(2, 3, size, size)).shape == (2, 1)
    assert sum(isinstance(m, DoubleConv) for m in d.modules()) == 4
    linears = [m for m in d.modules() if isinstance(m, nn.Linear)]
    assert len(linears) == 2 and linears[-1].out_features == 1
    assert [m.body[-2].out_channels for m in d.modules() if isinstance(m, DoubleConv)] == [8, 16, 32, 64]
