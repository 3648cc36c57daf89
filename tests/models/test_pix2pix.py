import pytest
import torch
from torch import nn

from ganforge.api import resolve_config
from ganforge.errors import UserError
from ganforge.models import build_models
from ganforge.models.layers import count_parameters, init_weights
from ganforge.models.pix2pix import KerasBatchNorm2d, PatchDiscriminator, Pix2PixGenerator


@pytest.fixture(scope="module")
def generator_256() -> Pix2PixGenerator:
    torch.manual_seed(0)
    generator = Pix2PixGenerator(3, 3, 256)
    init_weights(generator, "normal")
    return generator


def test_generator_count_matches_keras_summary(generator_256):
    assert count_parameters(generator_256, with_bn_stats=True) == 54_425_859


def test_generator_count_one_input_channel():
    # Only the first conv changes: 1 * 64 * 4 * 4 weights instead of 3 * 64 * 4 * 4.
    assert count_parameters(Pix2PixGenerator(1, 3, 256), with_bn_stats=True) == 54_425_859 - 2 * 64 * 16


def test_generator_widths_at_256(generator_256):
    down = [block[0].out_channels for block in generator_256.down]
    up = [block[0].out_channels for block in generator_256.up]
    assert down == [64, 128, 256, 512, 512, 512, 512, 512]
    assert up == [512, 512, 512, 512, 256, 128, 64]
    assert not any(isinstance(m, nn.BatchNorm2d) for m in generator_256.down[0])
    assert all(isinstance(block[1], nn.BatchNorm2d) for block in generator_256.down[1:])
    bn = generator_256.down[1][1]
    assert bn.eps == 1e-3 and bn.momentum == 0.01
    assert generator_256.down[0][-1].negative_slope == 0.3


def test_generator_forward_256(generator_256):
    generator_256.eval()
    with torch.no_grad():
        y = generator_256(torch.randn(1, 3, 256, 256) * 3)
    assert y.shape == (1, 3, 256, 256)
    assert y.abs().max() <= 1.0
    assert isinstance(generator_256.tanh, nn.Tanh)


@pytest.mark.parametrize("size, levels", [(128, 7), (64, 6), (32, 5), (16, 4)])
def test_generator_depth_and_shapes(size, levels):
    generator = Pix2PixGenerator(1, 3, size, width=8)
    init_weights(generator, "normal")
    assert len(generator.down) == levels and len(generator.up) == levels - 1
    y = generator(torch.randn(2, 1, size, size) * 10)
    assert y.shape == (2, 3, size, size)
    assert y.abs().max() <= 1.0


def test_generator_bottleneck_is_one_pixel():
    generator = Pix2PixGenerator(3, 3, 64, width=8)
    x = torch.randn(2, 3, 64, 64)
    for down in generator.down:
        x = down(x)
    assert x.shape[-2:] == (1, 1)


def test_dropout_only_in_first_three_up_blocks(generator_256):
    assert sum(isinstance(m, nn.Dropout) for m in generator_256.modules()) == 3
    for j, block in enumerate(generator_256.up):
        dropouts = [m for m in block if isinstance(m, nn.Dropout)]
        assert len(dropouts) == (1 if j < 3 else 0)
        if dropouts:
            assert dropouts[0].p == 0.5
            assert [type(m) for m in block] == [nn.ConvTranspose2d, KerasBatchNorm2d, nn.Dropout, nn.ReLU]


def test_no_bias_in_down_and_up_convs(generator_256):
    convs = [m for block in [*generator_256.down, *generator_256.up] for m in block]
    convs = [m for m in convs if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
    assert len(convs) == 15
    assert all(m.bias is None for m in convs)
    assert generator_256.last.bias is not None


def test_discriminator_count_matches_keras_summary():
    assert count_parameters(PatchDiscriminator(6), with_bn_stats=True) == 2_770_433


@pytest.mark.parametrize("size, out", [(256, 30), (128, 14), (64, 6), (32, 2)])
def test_discriminator_shapes(size, out):
    discriminator = PatchDiscriminator(4, width=8)
    x, y = torch.randn(2, 1, size, size), torch.randn(2, 3, size, size)
    assert discriminator(x, y).shape == (2, 1, out, out)


def test_discriminator_receptive_field_is_70():
    torch.manual_seed(0)
    discriminator = PatchDiscriminator(6, width=8)
    init_weights(discriminator, "normal")
    with torch.no_grad():
        for p in discriminator.parameters():
            p.abs_()  # all-positive weights: no path can cancel to an exact zero gradient
    discriminator.eval()
    x = torch.rand(1, 3, 256, 256, requires_grad=True)
    y = torch.rand(1, 3, 256, 256, requires_grad=True)
    out = discriminator(x, y)
    assert out.shape == (1, 1, 30, 30)
    out[0, 0, 15, 15].backward()
    for grad in (x.grad, y.grad):
        rows, cols = grad[0].abs().sum(0).nonzero(as_tuple=True)
        assert rows.max() - rows.min() + 1 == 70
        assert cols.max() - cols.min() + 1 == 70


def pix2pix_config(*overrides):
    return resolve_config("pix2pix", data="shapes", overrides=["model.width=8", *overrides])


def test_build_pix2pix():
    cfg = pix2pix_config("data.in_channels=1", "data.image_size=64")
    generator, discriminator = build_models(cfg)
    assert isinstance(generator, Pix2PixGenerator) and isinstance(discriminator, PatchDiscriminator)
    assert discriminator.down1[0].in_channels == 4
    assert generator.down[1][0].weight.std().item() == pytest.approx(0.02, rel=0.2)
    x = torch.randn(2, 1, 64, 64)
    assert discriminator(x, generator(x)).shape == (2, 1, 6, 6)


@pytest.mark.parametrize("size, hint", [(100, "64 or 128"), (8, "use image size 16"), (20, "16 or 32")])
def test_bad_image_size_raises_user_error(size, hint):
    with pytest.raises(UserError, match="image_size") as err:
        Pix2PixGenerator(3, 3, size)
    assert hint in str(err.value)


def test_config_rejects_sizes_without_discriminator_output():
    with pytest.raises(UserError, match="data.image_size=16"):
        pix2pix_config("data.image_size=16")
    with pytest.raises(UserError, match="model.init"):
        pix2pix_config("model.init=xavier")


def test_batch_of_one_trains_through_the_1x1_bottleneck_like_keras():
    """pix2pix trains with batch 1: the innermost BN sees one value per channel and outputs its beta."""
    bn = KerasBatchNorm2d(4, eps=1e-3, momentum=0.01)
    torch.nn.init.normal_(bn.bias)
    x = torch.randn(1, 4, 1, 1, requires_grad=True)
    y = bn(x)
    assert torch.equal(y.flatten(), bn.bias.detach())
    y.sum().backward()
    assert torch.equal(x.grad, torch.zeros_like(x))
    assert torch.allclose(bn.running_mean, 0.01 * x.detach().flatten())
    assert torch.allclose(bn.running_var, torch.full((4,), 0.99))
    g, d = build_models(pix2pix_config("data.image_size=32"))
    out = g(torch.randn(1, 3, 32, 32))
    (out.mean() + d(out, out).mean()).backward()
    assert torch.isfinite(out).all()
    assert all(torch.isfinite(b).all() for b in g.buffers() if b.is_floating_point())
