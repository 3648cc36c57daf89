import pytest
import torch
from torch import nn

from ganforge.config import load_config
from ganforge.config.overrides import apply_overrides
from ganforge.errors import UserError
from ganforge.models import build_models, count_parameters
from ganforge.models.dcgan import Discriminator128, Generator128, MnistDiscriminator, MnistGenerator


def test_dcgan_mnist_matches_keras_totals():
    # The TF tutorial's model.summary(): parameters plus BatchNorm moving mean/variance.
    assert count_parameters(MnistGenerator(), with_bn_stats=True) == 2_330_944
    assert count_parameters(MnistDiscriminator(), with_bn_stats=True) == 212_865


def test_dcgan_mnist_layers_follow_seed_001():
    g = MnistGenerator()
    convs = [m for m in g.modules() if isinstance(m, nn.ConvTranspose2d)]
    assert [(c.out_channels, c.kernel_size, c.stride) for c in convs] == [
        (128, (5, 5), (1, 1)),
        (64, (5, 5), (2, 2)),
        (1, (5, 5), (2, 2)),
    ]
    assert all(c.bias is None for c in convs) and g.project[0].bias is None
    out = g(torch.randn(3, 100))
    assert out.shape == (3, 1, 28, 28) and out.abs().max() <= 1
    d = MnistDiscriminator()
    assert [m.p for m in d.modules() if isinstance(m, nn.Dropout)] == [0.3, 0.3]
    assert d(out).shape == (3, 1)


def test_dcgan_128_shapes_and_eight_conv_layers():
    g, d = Generator128(width=8), Discriminator128(width=8)
    convs = [m for m in g.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
    assert len(convs) == 8
    assert g.project[-1].unflattened_size == (128, 16, 16)
    x = g(torch.randn(2, 32))
    assert x.shape == (2, 3, 128, 128)
    assert d(x).shape == (2, 1)
    assert any(isinstance(m, nn.Dropout) for m in d.modules())


@pytest.mark.parametrize("size", [32, 64, 128])
def test_dcgan_guidelines(size):
    cfg = apply_overrides(load_config("dcgan"), [f"data.image_size={size}", "model.width=8"])
    g, d = build_models(cfg)
    x = g(torch.randn(2, 100))
    assert x.shape == (2, 3, size, size) and d(x).shape == (2, 1)
    # no fully connected layers; transposed convs in G, strided convs in D
    assert not any(isinstance(m, nn.Linear) for m in [*g.modules(), *d.modules()])
    g_layers = [m for m in g.net if not isinstance(m, nn.Unflatten)]
    assert isinstance(g_layers[-1], nn.Tanh) and isinstance(g_layers[-2], nn.ConvTranspose2d)  # no BN on output
    assert all(isinstance(m, nn.ReLU) for m in g.modules() if isinstance(m, (nn.ReLU, nn.LeakyReLU)))
    assert isinstance(d.net[1], nn.LeakyReLU)  # no BN after D's input layer
    assert (
        sum(isinstance(m, nn.BatchNorm2d) for m in d.modules())
        == len([m for m in d.modules() if isinstance(m, nn.Conv2d)]) - 2
    )


def test_wrong_image_size_is_a_user_error():
    with pytest.raises(UserError, match="image_size"):
        build_models(apply_overrides(load_config("dcgan"), ["data.image_size=48"]))
    with pytest.raises(UserError, match="28x28"):
        build_models(apply_overrides(load_config("dcgan-mnist"), ["data.image_size=32"]))


@pytest.mark.parametrize("scheme", ["normal", "keras"])
def test_init_schemes(scheme):
    cfg = apply_overrides(load_config("dcgan"), [f"model.init={scheme}", "model.width=8", "data.image_size=32"])
    g, _ = build_models(cfg)
    w = g.net[1].weight
    if scheme == "normal":
        assert abs(w.std().item() - 0.02) < 0.005
    else:
        fan_in, fan_out = w.shape[1] * 16, w.shape[0] * 16
        assert abs(w.abs().max().item() - (6 / (fan_in + fan_out)) ** 0.5) < 0.01


def test_the_discriminator_heads_keep_their_layout_whatever_the_dropout():
    """Checkpoints of 0.1 name D's last layer head.2 (dcgan-128) and net.7 (dcgan-mnist)."""
    for dropout in (0.0, 0.4):
        assert set(Discriminator128(3, 8, 0.2, dropout).head.state_dict()) == {"2.weight", "2.bias"}
    assert {"net.7.weight", "net.7.bias"} <= set(MnistDiscriminator(1, 8).state_dict())
