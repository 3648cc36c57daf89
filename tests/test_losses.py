"""The losses against their values computed independently (NumPy, float64), and the registries."""

import math

import numpy as np
import pytest
import torch

from ganforge.config import Config, LossConfig
from ganforge.errors import UserError
from ganforge.losses import ADVERSARIAL_LOSSES, RECONSTRUCTION_LOSSES, build_adversarial_loss
from ganforge.metrics.image import ssim

rng = np.random.default_rng(0)
REAL = rng.normal(0.5, 2.0, size=(16, 1, 3, 3))
FAKE = rng.normal(-0.5, 2.0, size=(16, 1, 3, 3))


def log_sigmoid(x):
    return -np.log1p(np.exp(-x))


# name -> (D's loss on reals, D's loss on fakes, G's loss), each a mean over every output
EXPECTED = {
    "bce": (
        -log_sigmoid(REAL).mean(),
        -np.log(1 - 1 / (1 + np.exp(-FAKE))).mean(),
        -log_sigmoid(FAKE).mean(),
    ),
    "lsgan": (((REAL - 1) ** 2).mean(), (FAKE**2).mean(), ((FAKE - 1) ** 2).mean()),
    "hinge": (np.maximum(0, 1 - REAL).mean(), np.maximum(0, 1 + FAKE).mean(), -FAKE.mean()),
}


@pytest.mark.parametrize("name", ["bce", "lsgan", "hinge"])
def test_adversarial_losses_equal_their_formulas(name):
    loss = ADVERSARIAL_LOSSES.get(name)(LossConfig())
    real, fake = torch.tensor(REAL, dtype=torch.float32), torch.tensor(FAKE, dtype=torch.float32)
    d = loss.d_loss(real, fake)
    want_real, want_fake, want_g = EXPECTED[name]
    assert d["d_loss_real"].item() == pytest.approx(want_real, rel=1e-5)
    assert d["d_loss_fake"].item() == pytest.approx(want_fake, rel=1e-5)
    assert d["d_loss"].item() == pytest.approx(0.5 * (want_real + want_fake), rel=1e-5)
    assert loss.g_loss(fake).item() == pytest.approx(want_g, rel=1e-5)


@pytest.mark.parametrize("name", ["bce", "lsgan", "hinge"])
def test_a_discriminator_that_is_right_has_the_lower_loss(name):
    """Signs: D is rewarded for high scores on reals and low on fakes; G for high scores on its fakes."""
    loss = ADVERSARIAL_LOSSES.get(name)(LossConfig())
    high, low = torch.full((8, 1), 0.9), torch.full((8, 1), -0.9)
    assert loss.d_loss(high, low)["d_loss"] < loss.d_loss(low, high)["d_loss"]
    assert loss.g_loss(high) < loss.g_loss(low)


def test_bce_at_chance_is_log_2_and_only_bce_is_logistic():
    loss = build_adversarial_loss(Config())
    zeros = torch.zeros(4, 1)
    assert loss.d_loss(zeros, zeros)["d_loss"].item() == pytest.approx(math.log(2))
    assert loss.g_loss(zeros).item() == pytest.approx(math.log(2)) == loss.chance
    assert loss.logistic
    lsgan = ADVERSARIAL_LOSSES.get("lsgan")(LossConfig())
    halves = torch.zeros(4, 1) + 0.5  # D can't tell: 1/2 everywhere
    assert lsgan.d_loss(halves, halves)["d_loss"].item() == pytest.approx(0.25) == lsgan.chance
    assert lsgan.g_loss(halves).item() == pytest.approx(0.25) and not lsgan.logistic
    for name in ("hinge", "wgan-gp"):
        other = ADVERSARIAL_LOSSES.get(name)
        assert not other.logistic and other.chance is None
    smoothed = ADVERSARIAL_LOSSES.get("bce")(LossConfig(label_smoothing=0.1))
    sure = smoothed.d_loss(torch.full((4, 1), math.log(9)), torch.full((4, 1), -50.0))["d_loss"]  # D(x) = 0.9
    assert sure.item() == pytest.approx(smoothed.d_floor, rel=1e-4)  # the least D's loss can be


def test_unknown_loss_names_the_key():
    with pytest.raises(UserError, match="loss.gan='wgan-typo'.*bce"):
        ADVERSARIAL_LOSSES.get("wgan-typo")


def test_reconstruction_terms_equal_their_definitions():
    a, b = torch.rand(2, 3, 16, 16) * 2 - 1, torch.rand(2, 3, 16, 16) * 2 - 1
    assert RECONSTRUCTION_LOSSES.get("l1")(a, b).item() == pytest.approx((a - b).abs().mean().item(), rel=1e-6)
    assert RECONSTRUCTION_LOSSES.get("ssim")(a, b).item() == pytest.approx(1 - ssim(a, b).mean().item(), rel=1e-6)
    vertical = (a[:, :, 1:] - a[:, :, :-1]).abs().mean()
    horizontal = (a[..., 1:] - a[..., :-1]).abs().mean()
    assert RECONSTRUCTION_LOSSES.get("tv")(a, b).item() == pytest.approx(0.5 * (vertical + horizontal).item())
