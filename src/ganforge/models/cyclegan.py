"""CycleGAN's networks (Zhu et al. 2017, "Unpaired image-to-image translation using cycle-consistent
adversarial networks"), as their reference code builds them.

Generator (Johnson et al.'s ResNet, the paper's appendix 7.2): c7s1-64, d128, d256, R256 x blocks, u128,
u64, c7s1-3. cXs1-k: reflection padding, a XxX convolution with k filters, instance norm, ReLU; dk: a 3x3
convolution of stride 2, instance norm, ReLU; Rk: a residual block of two 3x3 convolutions (reflection
padding), the first followed by ReLU; uk: a 3x3 transposed convolution of stride 1/2, instance norm, ReLU;
the last layer ends in tanh. 9 blocks at 256 px, 6 at 128 px and below. Instance norm has no affine
parameters, so the convolutions keep their biases: 11,378,179 parameters with 9 blocks, 7,837,699 with 6.

The option `generator=unet` (the reference's unet_128/unet_256) takes pix2pix's U-Net (models/pix2pix.py)
with instance norm in place of BatchNorm, LeakyReLU 0.2, and no dropout unless `g_dropout` says.

Discriminator: the 70x70 PatchGAN, C64-C128-C256-C512 (4x4 convolutions, stride 2 but the last, instance
norm but on the first, LeakyReLU 0.2) and a 4x4 convolution to one logit per patch: 2,764,737 parameters
on 3 channels.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..config import Config, ModelConfig, option
from ..errors import UserError
from .family import Family, register_family
from .layers import INIT_SCHEMES, is_power_of_two, require_image_size
from .pix2pix import Pix2PixGenerator


def _instance_norm(channels: int) -> nn.InstanceNorm2d:
    return nn.InstanceNorm2d(channels, affine=False, track_running_stats=False)


class ResidualBlock(nn.Module):
    """x + (pad, conv 3x3, norm, ReLU, [dropout], pad, conv 3x3, norm)(x)."""

    def __init__(self, channels: int, dropout: float = 0.0):
        super().__init__()
        layers: list[nn.Module] = [
            nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3), _instance_norm(channels), nn.ReLU(True),
        ]  # fmt: skip
        if dropout:
            layers.append(nn.Dropout(dropout))
        layers += [nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3), _instance_norm(channels)]
        self.body = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class ResnetGenerator(nn.Module):
    """Image to image of the same size (a multiple of 4): two stride-2 downsamplings, `blocks` residual
    blocks at a quarter of the size, two upsamplings."""

    def __init__(self, in_channels: int = 3, out_channels: int = 3, width: int = 64, blocks: int = 9,
                 dropout: float = 0.0):  # fmt: skip
        super().__init__()
        layers: list[nn.Module] = [
            nn.ReflectionPad2d(3), nn.Conv2d(in_channels, width, 7), _instance_norm(width), nn.ReLU(True),
        ]  # fmt: skip
        channels = width
        for _ in range(2):  # d128, d256
            layers += [nn.Conv2d(channels, channels * 2, 3, stride=2, padding=1), _instance_norm(channels * 2),
                       nn.ReLU(True)]  # fmt: skip
            channels *= 2
        layers += [ResidualBlock(channels, dropout) for _ in range(blocks)]
        for _ in range(2):  # u128, u64
            layers += [
                nn.ConvTranspose2d(channels, channels // 2, 3, stride=2, padding=1, output_padding=1),
                _instance_norm(channels // 2), nn.ReLU(True),
            ]  # fmt: skip
            channels //= 2
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(channels, out_channels, 7), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class PatchDiscriminator(nn.Module):
    """The 70x70 PatchGAN with instance norm: (N, C, S, S) -> (N, 1, S/8 - 2, S/8 - 2) logits, 30x30 at
    256 px, each judging one overlapping 70x70 patch."""

    def __init__(self, in_channels: int = 3, width: int = 64, layers: int = 3):
        super().__init__()
        parts: list[nn.Module] = [nn.Conv2d(in_channels, width, 4, stride=2, padding=1), nn.LeakyReLU(0.2, True)]
        channels = width
        for i in range(1, layers + 1):  # C128, C256 of stride 2, then C512 of stride 1
            out = width * min(2**i, 8)
            stride = 2 if i < layers else 1
            parts += [nn.Conv2d(channels, out, 4, stride=stride, padding=1), _instance_norm(out),
                      nn.LeakyReLU(0.2, True)]  # fmt: skip
            channels = out
        parts.append(nn.Conv2d(channels, 1, 4, stride=1, padding=1))
        self.net = nn.Sequential(*parts)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class CycleGenerator(nn.Module):
    """The two generators as one network (one optimiser, one checkpoint entry, as the reference's one Adam
    over both): `ab` translates A to B, `ba` B to A; calling it translates A to B, or the way named (so a
    wrapper such as DistributedDataParallel sees, and synchronises, both)."""

    def __init__(self, ab: nn.Module, ba: nn.Module):
        super().__init__()
        self.ab, self.ba = ab, ba

    def forward(self, x: torch.Tensor, way: str = "ab") -> torch.Tensor:
        return self.ba(x) if way == "ba" else self.ab(x)


class CycleDiscriminator(nn.Module):
    """The two discriminators as one network: `a` judges images of side A, `b` of side B (the default)."""

    def __init__(self, a: nn.Module, b: nn.Module):
        super().__init__()
        self.a, self.b = a, b

    def forward(self, x: torch.Tensor, side: str = "b") -> torch.Tensor:
        return self.a(x) if side == "a" else self.b(x)


@dataclass
class CycleGANOptions(ModelConfig):
    width: int = option(64, positive=True, at_most=1024)  # ngf and ndf
    generator: str = option("resnet", choices=("resnet", "unet"))  # Johnson et al.'s ResNet, or pix2pix's U-Net
    blocks: int = option(0, at_least=0, at_most=64)  # residual blocks; 0: 9 at 256 px and above, else 6
    g_dropout: float = option(0.0, at_least=0, below=1)  # in the residual blocks (the reference's --no_dropout)
    init: str = option("normal", choices=INIT_SCHEMES)

    def check(self, cfg: Config, origin: str) -> None:
        if cfg.loss.gan not in ("lsgan", "bce", "hinge"):
            raise UserError(
                f"loss.gan={cfg.loss.gan!r} in {origin}: cyclegan trains without the penalties it needs; use lsgan "
                "(the reference's), bce or hinge"
            )
        if self.generator == "unet":
            require_image_size(cfg.data.image_size, lambda s: s >= 32 and is_power_of_two(s), "cyclegan's U-Net",
                               "a power of two >= 32")  # fmt: skip
        require_image_size(cfg.data.image_size, lambda s: s >= 32 and s % 4 == 0, "cyclegan", "a multiple of 4, >= 32")


def _build(cfg: Config) -> tuple[nn.Module, nn.Module]:
    m, c = cfg.model, cfg.data.channels
    blocks = m.blocks or (9 if cfg.data.image_size >= 256 else 6)
    if m.generator == "unet":
        make = lambda: Pix2PixGenerator(c, c, cfg.data.image_size, m.width, m.g_dropout, 0.2, instance=True)  # noqa: E731
    else:
        make = lambda: ResnetGenerator(c, c, m.width, blocks, m.g_dropout)  # noqa: E731
    return CycleGenerator(make(), make()), CycleDiscriminator(
        PatchDiscriminator(c, m.width), PatchDiscriminator(c, m.width)
    )


register_family(Family("cyclegan", "unpaired", CycleGANOptions, _build, description="Zhu et al. 2017"))
