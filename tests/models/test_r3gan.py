"""The R3GAN family's networks: shapes at every size, residual blocks that start as the identity, the
fix-up initialisation's scale, bilinear resampling, the stage widths, and a run that trains and resumes
exactly through the common loop."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

import ganforge
from ganforge.config import load_config
from ganforge.errors import UserError
from ganforge.models import build_models
from ganforge.models.r3gan import GAIN, R3Discriminator, R3Generator, Resample, ResidualBlock, stage_sizes, stage_widths

SMALL = {"blocks": 1, "expansion": 2, "group_width": 8}


def widths(size: int, width: int = 16) -> list[int]:
    return stage_widths(size, width)


@pytest.mark.parametrize(("size", "channels"), [(8, 1), (28, 1), (32, 3), (64, 1)])
def test_shapes_at_each_size(size, channels):
    g = R3Generator(12, channels, size, widths(size), **SMALL)
    d = R3Discriminator(channels, size, widths(size), **SMALL)
    images = g(torch.randn(5, 12))
    assert images.shape == (5, channels, size, size)
    assert d(images).shape == (5, 1)


def test_stage_widths_are_flat_to_32_and_halve_above():
    assert stage_widths(32, 768) == [768, 768, 768, 768]  # 4, 8, 16, 32: the paper's CIFAR-10 layout
    assert stage_widths(256, 1024) == [1024, 1024, 1024, 1024, 512, 256, 128]  # its FFHQ-256 layout


def test_every_residual_block_starts_as_the_identity():
    torch.manual_seed(0)
    g = R3Generator(8, 3, 32, widths(32), **SMALL)
    blocks = [m for m in g.modules() if isinstance(m, ResidualBlock)]
    assert len(blocks) == 4
    for block in blocks:
        x = torch.randn(2, block.branch[0].in_channels, 8, 8)
        assert torch.equal(block(x), x)
        assert not block.branch[-1].weight.any()


def test_the_initial_weights_have_the_fix_up_scale():
    """A block's first layer: N(0, gain * L^(-1/4) / sqrt(fan_in)), L the network's number of blocks."""
    torch.manual_seed(0)
    g = R3Generator(8, 3, 32, widths(32, 256), blocks=2, expansion=2, group_width=16)
    first = next(m for m in g.modules() if isinstance(m, ResidualBlock)).branch[0].weight
    expected = GAIN * 8 ** (-1 / 4) / math.sqrt(256)
    assert first.std().item() == pytest.approx(expected, rel=0.05)


def test_resampling_is_bilinear():
    """Inside the border, up is what bilinear interpolation gives; down then averages with [1, 3, 3, 1]."""
    x = torch.randn(2, 3, 12, 12)
    up = Resample(3, 3, up=True)(x)
    bilinear = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
    assert torch.allclose(up[..., 2:-2, 2:-2], bilinear[..., 2:-2, 2:-2], atol=1e-5)
    flat = torch.full((1, 2, 8, 8), 0.7)
    down = Resample(2, 2, up=False)(flat)
    assert down.shape == (1, 2, 4, 4) and torch.allclose(down[..., 1:-1, 1:-1], flat[..., :2, :2])


@pytest.mark.parametrize("up", [True, False])
def test_resampling_under_cpu_bfloat16_autocast_filters_in_float32_and_keeps_the_gradient(up):
    """oneDNN has no bfloat16 kernel for the depthwise filter: it runs in float32, its output rounded back
    to bfloat16, as the float32 filter's output rounded; gradients flow through the casts."""
    resample = Resample(4, 4, up=up)
    x = torch.randn(2, 4, 8, 8).bfloat16().requires_grad_(True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = resample._filter(x)
    assert y.dtype == torch.bfloat16
    assert torch.equal(y, resample._filter(x.detach().float()).bfloat16())
    y.float().sum().backward()
    assert x.grad is not None and x.grad.dtype == torch.bfloat16 and x.grad.abs().sum() > 0


def test_the_family_is_a_config_key_with_its_rules():
    cfg = load_config({"model": {"family": "r3gan", "width": 32}, "data": {"image_size": 32}})
    g, d = build_models(cfg)
    assert isinstance(g, R3Generator) and isinstance(d, R3Discriminator)
    assert not next(m for m in g.modules() if isinstance(m, ResidualBlock)).branch[-1].weight.any()  # kept
    with pytest.raises(UserError, match="data.image_size=36 .*use image size 32 or 40"):
        load_config({"model": {"family": "r3gan"}, "data": {"image_size": 36}})


def test_28_pixel_digits_start_from_a_7x7_basis_and_narrow_stages_cost_less():
    assert stage_sizes(28) == [7, 14, 28] and stage_sizes(32) == [4, 8, 16, 32] and stage_sizes(48) == [6, 12, 24, 48]
    assert stage_widths(28, 64, full_width_up_to=8) == [64, 32, 16]
    assert stage_widths(32, 64, full_width_up_to=8) == [64, 64, 32, 16]
    g = R3Generator(8, 1, 28, [64, 32, 16], 1, 2, 16)
    d = R3Discriminator(1, 28, [64, 32, 16], 1, 2, 16)
    assert g(torch.randn(3, 8)).shape == (3, 1, 28, 28) and d(torch.randn(3, 1, 28, 28)).shape == (3, 1)


def test_an_r3gan_run_trains_and_resumes_exactly(tmp_path):
    settings = ["model.family=r3gan", "model.width=16", "model.blocks=1", "model.latent_dim=16", "loss.gan=rpgan",
                "loss.r1=1", "loss.r2=1", "data.image_size=16", "train.batch_size=8", "train.log_every=2",
                "train.checkpoint_every=3", "train.sample_every=6", "train.grid_size=2", "train.ema=200",
                "data.channels=1"]  # fmt: skip
    whole = ganforge.train("dcgan", data="digits", steps=6, out=tmp_path / "whole", quiet=True, overrides=settings)
    part = ganforge.train("dcgan", data="digits", steps=3, out=tmp_path / "part", quiet=True, overrides=settings)
    ganforge.train(resume=part.dir, steps=6, quiet=True)
    a = torch.load(whole.checkpoint, weights_only=True)
    b = torch.load(part.checkpoint, weights_only=True)
    for net in ("g", "d", "g_ema"):
        assert all(torch.equal(a[net][k], b[net][k]) for k in a[net]), net
    images = ganforge.load(whole.dir, device="cpu").sample(4, seed=0)
    assert images.shape == (4, 1, 16, 16) and torch.isfinite(images).all()


def test_blocks_may_differ_by_stage():
    cfg = load_config({"model": {"family": "r3gan", "width": 16, "stage_blocks": "2,1,0"}, "data": {"image_size": 28}})
    g, d = build_models(cfg)
    blocks = [sum(isinstance(m, ResidualBlock) for m in stage.modules()) for stage in g.stages]
    assert blocks == [2, 1, 0] and [sum(isinstance(m, ResidualBlock) for m in s.modules()) for s in d.stages] == [
        0,
        1,
        2,
    ]
    assert g(torch.randn(2, 64)).shape == (2, 3, 28, 28)
    with pytest.raises(UserError, match="model.stage_blocks='1,1' .* give 3 comma-separated counts"):
        load_config({"model": {"family": "r3gan", "stage_blocks": "1,1"}, "data": {"image_size": 28}})
