"""CycleGAN's networks (models/cyclegan.py) against the reference code's figures: parameter counts, shapes,
the residual path and instance norm's per-image statistics."""

import pytest
import torch
from torch import nn

from ganforge.models.cyclegan import PatchDiscriminator, ResidualBlock, ResnetGenerator


def count(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


@pytest.mark.parametrize("blocks, expected", [(9, 11_378_179), (6, 7_837_699)])
def test_the_resnet_generator_has_the_reference_parameter_count(blocks, expected):
    """The reference code prints 11.378 M for resnet_9blocks and 7.838 M for resnet_6blocks (ngf 64)."""
    assert count(ResnetGenerator(blocks=blocks)) == expected


def test_the_patchgan_has_the_reference_parameter_count_and_patch_grid():
    d = PatchDiscriminator()
    assert count(d) == 2_764_737  # the reference code's 2.765 M for basic D on 3 channels
    assert d(torch.zeros(1, 3, 256, 256)).shape == (1, 1, 30, 30)
    assert d(torch.zeros(2, 3, 64, 64)).shape == (2, 1, 6, 6)
    # each logit sees a 70x70 patch (of the convolutions: instance norm's statistics are the whole
    # image's, so they are taken out here): the input gradient of a central logit covers 70x70 pixels
    for i, m in enumerate(d.net):
        if isinstance(m, nn.InstanceNorm2d):
            d.net[i] = nn.Identity()
    x = torch.randn(1, 3, 256, 256, requires_grad=True)
    d(x)[0, 0, 15, 15].backward()
    seen = x.grad[0].abs().sum(0) > 0
    rows, cols = seen.any(1).nonzero().flatten(), seen.any(0).nonzero().flatten()
    assert (len(rows), len(cols)) == (70, 70) and rows[-1] - rows[0] == 69 and seen.sum() == 70 * 70


@pytest.mark.parametrize("size", [32, 64, 132])
def test_the_generator_keeps_the_size_and_the_range(size):
    g = ResnetGenerator(width=8, blocks=2)
    y = g(torch.randn(2, 3, size, size))
    assert y.shape == (2, 3, size, size) and y.abs().max() <= 1


def test_a_residual_block_adds_its_branch_and_normalises_each_image_alone():
    block = ResidualBlock(4)
    x = torch.randn(3, 4, 8, 8)
    branch = block.body(x)
    assert torch.allclose(block(x), x + branch)
    # instance norm: each image's channels have mean 0 and variance 1, whatever the other images are
    assert torch.allclose(branch.mean(dim=(2, 3)), torch.zeros(3, 4), atol=1e-5)
    alone = block.body(x[:1])
    assert torch.allclose(alone, branch[:1], atol=1e-6)


def test_the_unet_option_normalises_each_image_alone_and_keeps_its_bottleneck():
    """generator=unet: pix2pix's U-Net with instance norm, so an image's output does not depend on the other
    images of its batch (BatchNorm's would), and no norm at the 1x1 bottleneck (which it would zero)."""
    from ganforge.api import resolve_config
    from ganforge.models import build_models

    cfg = resolve_config("cyclegan", overrides=["model.generator=unet", "model.width=8", "data.image_size=32"])
    g, _ = build_models(cfg)
    g.eval()
    assert not any(isinstance(m, nn.BatchNorm2d) for m in g.modules())
    x = torch.rand(3, 3, 32, 32, generator=torch.Generator().manual_seed(0)) * 2 - 1
    with torch.no_grad():
        alone, together = g(x[:1], "ba"), g(x, "ba")[:1]
        assert (alone - together).abs().max() < 1e-5 and alone.shape == (1, 3, 32, 32)
        bottleneck = g.ba.down[-1]  # the 1x1 level: a convolution and its activation only
        assert not any(isinstance(m, nn.InstanceNorm2d) for m in bottleneck)
        h = x
        for down in g.ba.down:
            h = down(h)
        assert h.shape[-2:] == (1, 1) and h.flatten(1).std(0).mean() > 1e-4  # images differ at the bottleneck


def test_what_the_cycle_objective_does_not_read_is_refused_or_named():
    """A loss that needs penalties is refused in one line; reconstruction terms, penalties and D steps,
    which CycleGAN's objective has no place for, are named in a warning rather than silently dropped."""
    from ganforge.api import resolve_config
    from ganforge.config import unused_settings
    from ganforge.errors import UserError

    with pytest.raises(UserError, match="loss.gan='rpgan'.*lsgan"):
        resolve_config("cyclegan", overrides=["loss.gan=rpgan"])
    cfg = resolve_config("cyclegan", overrides=["loss.r1=1", "loss.l1=100", "train.d_steps=2"])
    warned = " ".join(unused_settings(cfg))
    assert all(key in warned for key in ("loss.r1", "loss.l1", "train.d_steps")), warned
    assert "loss.l1" not in " ".join(unused_settings(resolve_config("pix2pix", overrides=["loss.l1=50"])))
