"""The srgan family (models/srgan.py): the networks' sizes and shapes, and the config's rules."""

import pytest
import torch
import torch.nn.functional as F

from ganforge.api import resolve_config
from ganforge.errors import UserError
from ganforge.models import build_models, count_parameters
from ganforge.models.srgan import SRResNet, UNetDiscriminator, VGGDiscriminator


@pytest.mark.parametrize("scale, expected", [(4, 1_517_571), (2, 1_369_859)])
def test_srresnet_has_the_reference_parameter_count(scale, expected):
    """BasicSR's MSRResNet at 64 channels and 16 blocks: 1,517,571 parameters for x4, 1,369,859 for x2."""
    assert count_parameters(SRResNet(scale, 3, 64, 16)) == expected


def test_unet_discriminator_has_real_esrgans_parameter_count_and_spectral_norm():
    d = UNetDiscriminator(3, 64)
    assert count_parameters(d) == 4_376_897
    normed = [n for n, _ in d.named_modules() if n.endswith("parametrizations.weight")]
    assert len(normed) == 8  # every convolution but the first and the last
    assert d(torch.zeros(2, 3, 48, 40)).shape == (2, 1, 48, 40)  # a logit a pixel, any multiple of 8


@pytest.mark.parametrize("scale", [2, 3, 4])
@pytest.mark.parametrize("channels", [1, 3])
def test_the_generator_enlarges_by_its_scale_at_any_size(scale, channels):
    g = SRResNet(scale, channels, 16, 2)
    y = g(torch.randn(2, channels, 13, 17))
    assert y.shape == (2, channels, 13 * scale, 17 * scale)
    y.mean().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in g.parameters())


def test_an_untrained_generator_starts_near_bicubic_enlargement():
    """Weights at a tenth of Kaiming's: the residual detail starts small, so G begins as the bicubic baseline."""
    torch.manual_seed(0)
    x = torch.rand(2, 3, 24, 24) * 2 - 1
    base = F.interpolate(x, scale_factor=4, mode="bicubic", align_corners=False)
    detail = SRResNet(4)(x) - base
    assert detail.abs().mean() < 0.02 * base.abs().mean()
    assert detail.abs().mean() > 0  # and not exactly: the network is there


def test_vgg_discriminator_gives_one_logit_an_image():
    d = VGGDiscriminator(3, 96, 16)
    assert d(torch.randn(3, 3, 96, 96)).shape == (3, 1)


@pytest.mark.parametrize("d_arch", ["vgg", "unet"])
def test_build_models_follows_the_config(d_arch):
    cfg = resolve_config("srgan-x2", overrides=["model.width=8", "model.blocks=1", "model.d_width=8",
                                                f"model.d_arch={d_arch}", "data.image_size=64"])  # fmt: skip
    g, d = build_models(cfg)
    assert g(torch.zeros(1, 3, 32, 32)).shape == (1, 3, 64, 64)
    assert isinstance(d, VGGDiscriminator if d_arch == "vgg" else UNetDiscriminator)


@pytest.mark.parametrize(
    "over, needle",
    [
        (["data.image_size=100"], "data.image_size=100"),  # not a multiple of 32 for the VGG D
        (["model.scale=3", "data.image_size=64"], "multiple of 96"),
        (["data.channels=1"], "data.in_channels=3 and data.channels=1"),
        (["model.scale=5"], "model.scale"),
        (["model.inputs=jpeg"], "model.inputs"),
    ],
)
def test_a_config_that_does_not_fit_is_one_line(over, needle):
    with pytest.raises(UserError) as error:
        resolve_config("srgan-x4", overrides=over)
    assert needle in str(error.value) and "\n" not in str(error.value)
