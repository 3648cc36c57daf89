"""The DCGAN family: three generators and discriminators for unconditional image generation.

- `dcgan-mnist` (seed 001): the TensorFlow DCGAN tutorial's networks for 28x28 digits, layer for layer.
- `dcgan-128` (seed 003): a 128x128 RGB DCGAN with a 32-dimensional latent reshaped to 16x16x128.
- `dcgan` (seed 004, Radford et al.): the guideline architecture at 32, 64 or 128 pixels.

Each generator maps a latent batch (N, latent_dim) to images (N, C, H, W) in [-1, 1]; each discriminator
maps images to one logit per image, shape (N, 1).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from ..config import Config, NoiseOptions, option
from .family import Family, register_family
from .layers import INIT_SCHEMES, require_image_size
from .minibatch import discriminator_head

# Keras' BatchNormalization defaults (epsilon 1e-3, moving-average momentum 0.99) for the TF-derived models.
KERAS_BN = {"eps": 1e-3, "momentum": 0.01}


class MnistGenerator(nn.Module):
    """Seed 001: Dense(7*7*256) -> BN -> LeakyReLU -> reshape -> three 5x5 transposed convolutions."""

    def __init__(self, latent_dim: int = 100, channels: int = 1, width: int = 64, leaky_slope: float = 0.3):
        super().__init__()
        self.latent_dim = latent_dim
        c4, c2, c1 = 4 * width, 2 * width, width
        self.project = nn.Sequential(
            nn.Linear(latent_dim, 7 * 7 * c4, bias=False),
            nn.BatchNorm1d(7 * 7 * c4, **KERAS_BN),
            nn.LeakyReLU(leaky_slope),
            nn.Unflatten(1, (c4, 7, 7)),
        )
        self.body = nn.Sequential(
            nn.ConvTranspose2d(c4, c2, 5, stride=1, padding=2, bias=False),
            nn.BatchNorm2d(c2, **KERAS_BN),
            nn.LeakyReLU(leaky_slope),
            nn.ConvTranspose2d(c2, c1, 5, stride=2, padding=2, output_padding=1, bias=False),
            nn.BatchNorm2d(c1, **KERAS_BN),
            nn.LeakyReLU(leaky_slope),
            nn.ConvTranspose2d(c1, channels, 5, stride=2, padding=2, output_padding=1, bias=False),
            nn.Tanh(),
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.body(self.project(z))


class MnistDiscriminator(nn.Module):
    """Seed 001: two 5x5 stride-2 convolutions with LeakyReLU and dropout 0.3, then Dense(1) logits."""

    def __init__(
        self,
        channels: int = 1,
        width: int = 64,
        leaky_slope: float = 0.3,
        dropout: float = 0.3,
        minibatch_std: bool = False,
        minibatch_kernels: int = 0,
    ):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(channels, width, 5, stride=2, padding=2),
            nn.LeakyReLU(leaky_slope),
            nn.Dropout(dropout),
            nn.Conv2d(width, 2 * width, 5, stride=2, padding=2),
            nn.LeakyReLU(leaky_slope),
            nn.Dropout(dropout),
            *discriminator_head(2 * width, 7, minibatch_std, minibatch_kernels),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def _conv_bn_lrelu(cin: int, cout: int, slope: float, transpose: bool = False) -> list[nn.Module]:
    conv = (
        nn.ConvTranspose2d(cin, cout, 4, stride=2, padding=1, bias=False)
        if transpose
        else nn.Conv2d(cin, cout, 3, padding=1, bias=False)
    )
    return [conv, nn.BatchNorm2d(cout, **KERAS_BN), nn.LeakyReLU(slope)]


class Generator128(nn.Module):
    """Seed 003: latent 32 -> Dense -> 16x16x128, then eight convolutional layers up to 128x128x3.

    Layers 1-7 are convolution -> BN -> LeakyReLU: a 5x5 convolution at 16x16, then three rounds of
    (4x4 stride-2 transposed convolution, 3x3 convolution) that double the resolution and halve the width;
    layer 8 is a 7x7 convolution to the image channels with tanh.
    """

    def __init__(self, latent_dim: int = 32, channels: int = 3, width: int = 32, leaky_slope: float = 0.2):
        super().__init__()
        self.latent_dim = latent_dim
        w8, w4, w2, w1 = 8 * width, 4 * width, 2 * width, width
        self.project = nn.Sequential(
            nn.Linear(latent_dim, 16 * 16 * 128, bias=False),
            nn.BatchNorm1d(16 * 16 * 128, **KERAS_BN),
            nn.LeakyReLU(leaky_slope),
            nn.Unflatten(1, (128, 16, 16)),
        )
        self.body = nn.Sequential(
            nn.Conv2d(128, w8, 5, padding=2, bias=False),
            nn.BatchNorm2d(w8, **KERAS_BN),
            nn.LeakyReLU(leaky_slope),
            *_conv_bn_lrelu(w8, w8, leaky_slope, transpose=True),  # 32x32
            *_conv_bn_lrelu(w8, w4, leaky_slope),
            *_conv_bn_lrelu(w4, w4, leaky_slope, transpose=True),  # 64x64
            *_conv_bn_lrelu(w4, w2, leaky_slope),
            *_conv_bn_lrelu(w2, w2, leaky_slope, transpose=True),  # 128x128
            *_conv_bn_lrelu(w2, w1, leaky_slope),
            nn.Conv2d(w1, channels, 7, padding=3),
            nn.Tanh(),
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.body(self.project(z))


class Discriminator128(nn.Module):
    """Seed 003: five 4x4 stride-2 convolution -> BN -> LeakyReLU blocks (no BN on the input block),
    then dropout and a linear layer to one logit."""

    def __init__(
        self,
        channels: int = 3,
        width: int = 32,
        leaky_slope: float = 0.2,
        dropout: float = 0.4,
        minibatch_std: bool = False,
        minibatch_kernels: int = 0,
    ):
        super().__init__()
        widths = [width, 2 * width, 4 * width, 8 * width, 8 * width]
        layers: list[nn.Module] = []
        cin = channels
        for i, cout in enumerate(widths):
            layers.append(nn.Conv2d(cin, cout, 4, stride=2, padding=1, bias=i == 0))
            if i > 0:
                layers.append(nn.BatchNorm2d(cout, **KERAS_BN))
            layers.append(nn.LeakyReLU(leaky_slope))
            cin = cout
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(*discriminator_head(cin, 4, minibatch_std, minibatch_kernels, dropout=dropout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


DCGAN_SIZES = (32, 64, 128)


def _dcgan_depth(image_size: int) -> int:
    """Number of stride-2 layers between 4x4 and the image."""
    require_image_size(image_size, DCGAN_SIZES.__contains__, "dcgan", "32, 64 or 128 pixels")
    return int(math.log2(image_size)) - 2


class DCGANGenerator(nn.Module):
    """Seed 004 / Radford et al.: transposed convolutions from 1x1 to the image, BN and ReLU everywhere
    but the tanh output layer, no fully connected layers."""

    def __init__(self, latent_dim: int = 100, channels: int = 3, image_size: int = 64, width: int = 64):
        super().__init__()
        self.latent_dim = latent_dim
        n_up = _dcgan_depth(image_size)  # 4x4 after the first layer
        cout = width * 2 ** (n_up - 1)
        layers: list[nn.Module] = [
            nn.Unflatten(1, (latent_dim, 1, 1)),
            nn.ConvTranspose2d(latent_dim, cout, 4, stride=1, padding=0, bias=False),
            nn.BatchNorm2d(cout),
            nn.ReLU(),
        ]
        for _ in range(n_up - 1):
            layers += [
                nn.ConvTranspose2d(cout, cout // 2, 4, stride=2, padding=1, bias=False),
                nn.BatchNorm2d(cout // 2),
                nn.ReLU(),
            ]
            cout //= 2
        layers += [nn.ConvTranspose2d(cout, channels, 4, stride=2, padding=1, bias=False), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)


class DCGANDiscriminator(nn.Module):
    """Seed 004 / Radford et al.: strided convolutions down to 4x4, BN everywhere but the input layer,
    LeakyReLU 0.2, and a final 4x4 convolution to one logit."""

    def __init__(
        self,
        channels: int = 3,
        image_size: int = 64,
        width: int = 64,
        leaky_slope: float = 0.2,
        minibatch_std: bool = False,
        minibatch_kernels: int = 0,
    ):
        super().__init__()
        n_down = _dcgan_depth(image_size)
        layers: list[nn.Module] = [
            nn.Conv2d(channels, width, 4, stride=2, padding=1, bias=False),
            nn.LeakyReLU(leaky_slope),
        ]
        cin = width
        for _ in range(n_down - 1):
            layers += [
                nn.Conv2d(cin, cin * 2, 4, stride=2, padding=1, bias=False),
                nn.BatchNorm2d(cin * 2),
                nn.LeakyReLU(leaky_slope),
            ]
            cin *= 2
        layers += discriminator_head(cin, 4, minibatch_std, minibatch_kernels, conv_last=True)
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


# ------------------------------------------------------------------------------------------- the families


MAX_LATENT = 4096
MAX_WIDTH = 1024


@dataclass
class NoiseToImageOptions(NoiseOptions):
    """The options the DCGAN families share: seed 004's cures for mode collapse in D."""

    latent_dim: int = option(100, positive=True, at_most=MAX_LATENT)
    minibatch_std: bool = False  # a minibatch standard deviation feature before D's last layer
    # kernels of minibatch discrimination before D's last layer; 0 = off
    minibatch_discrimination: int = option(0, at_least=0, at_most=1024)


@dataclass
class MnistOptions(NoiseToImageOptions):
    latent_dim: int = option(100, positive=True, at_most=MAX_LATENT)
    width: int = option(64, positive=True, at_most=MAX_WIDTH)  # both networks: G 4w-2w-w channels, D w-2w
    leaky_slope: float = option(0.3, at_least=0, at_most=1)  # both networks
    d_dropout: float = option(0.3, at_least=0, below=1)
    init: str = option("keras", choices=INIT_SCHEMES)

    def check(self, cfg: Config, origin: str) -> None:
        require_image_size(cfg.data.image_size, (28).__eq__, "dcgan-mnist", "28x28 images")


@dataclass
class DCGAN128Options(NoiseToImageOptions):
    latent_dim: int = option(32, positive=True, at_most=MAX_LATENT)
    width: int = option(32, positive=True, at_most=MAX_WIDTH)  # both networks: G 8w..w channels, D w..8w
    leaky_slope: float = option(0.3, at_least=0, at_most=1)  # both networks
    d_dropout: float = option(0.4, at_least=0, below=1)
    init: str = option("keras", choices=INIT_SCHEMES)

    def check(self, cfg: Config, origin: str) -> None:
        require_image_size(
            cfg.data.image_size, (128).__eq__, "dcgan-128", "128x128 images; the dcgan family does 32, 64 or 128"
        )


@dataclass
class DCGANOptions(NoiseToImageOptions):
    latent_dim: int = option(100, positive=True, at_most=MAX_LATENT)
    # both networks: the widest layer has width * image_size / 8
    width: int = option(64, positive=True, at_most=MAX_WIDTH)
    d_leaky_slope: float = option(0.2, at_least=0, at_most=1)  # D's LeakyReLU; G uses ReLU
    init: str = option("normal", choices=INIT_SCHEMES)

    def check(self, cfg: Config, origin: str) -> None:
        _dcgan_depth(cfg.data.image_size)


def _build_mnist(cfg: Config) -> tuple[nn.Module, nn.Module]:
    m, c = cfg.model, cfg.data.channels
    return MnistGenerator(m.latent_dim, c, m.width, m.leaky_slope), MnistDiscriminator(
        c, m.width, m.leaky_slope, m.d_dropout, m.minibatch_std, m.minibatch_discrimination
    )


def _build_128(cfg: Config) -> tuple[nn.Module, nn.Module]:
    m, c = cfg.model, cfg.data.channels
    return Generator128(m.latent_dim, c, m.width, m.leaky_slope), Discriminator128(
        c, m.width, m.leaky_slope, m.d_dropout, m.minibatch_std, m.minibatch_discrimination
    )


def _build_dcgan(cfg: Config) -> tuple[nn.Module, nn.Module]:
    m, d = cfg.model, cfg.data
    return DCGANGenerator(m.latent_dim, d.channels, d.image_size, m.width), DCGANDiscriminator(
        d.channels, d.image_size, m.width, m.d_leaky_slope, m.minibatch_std, m.minibatch_discrimination
    )


register_family(Family("dcgan-mnist", "unconditional", MnistOptions, _build_mnist, description="seed 001"))
register_family(Family("dcgan-128", "unconditional", DCGAN128Options, _build_128, description="seed 003"))
register_family(Family("dcgan", "unconditional", DCGANOptions, _build_dcgan, description="seed 004"))
