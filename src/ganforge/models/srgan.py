"""Super-resolution GAN networks: SRGAN (Ledig et al. 2017) as ESRGAN and Real-ESRGAN train it.

Generator, SRResNet without batch norm (ESRGAN's finding: BN brings artefacts and costs nothing to drop):
a 3x3 convolution to `width` channels and LeakyReLU 0.1; `blocks` residual blocks of two 3x3 convolutions
with a ReLU between them; the upsampler, for each factor 2 (or once for 3) a 3x3 convolution to 4x (9x)
the channels, pixel shuffle and LeakyReLU 0.1; a 3x3 convolution and LeakyReLU 0.1, a 3x3 convolution to
the image's channels; and the input's bicubic enlargement added, so the network learns the detail that
interpolation misses. BasicSR adds a bilinear one; bicubic makes an untrained network the baseline it must
beat, not worse than it. Weights start at a tenth of Kaiming's, so that a deep residual body starts near the
identity. At width 64 and 16 blocks: 1,517,571 parameters for x4, 1,369,859 for x2.

Discriminators:
- vgg (SRGAN's): pairs of a 3x3 and a strided 4x4 convolution (BN but on the first, LeakyReLU 0.2),
  width doubling to 8x over five halvings, then 100 units and one logit for the whole image;
- unet (Real-ESRGAN's): a U-Net with spectral norm that gives one logit a pixel, so that D tells where an
  image looks wrong, steadier on the complex degradations of real photographs (4,376,897 parameters at 64).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..config import Config, ModelConfig, option
from ..errors import UserError
from .family import Family, register_family
from .layers import require_image_size

SCALES = (2, 3, 4)
D_ARCHS = ("vgg", "unet")
INPUTS = ("bicubic", "realworld")


def _scaled_kaiming(module: nn.Module, scale: float = 0.1) -> None:
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight)
            m.weight.data.mul_(scale)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


class ResidualBlock(nn.Module):
    """x + conv(relu(conv(x))): no batch norm."""

    def __init__(self, width: int):
        super().__init__()
        self.conv1 = nn.Conv2d(width, width, 3, padding=1)
        self.conv2 = nn.Conv2d(width, width, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(F.relu(self.conv1(x)))


class SRResNet(nn.Module):
    """Low-resolution image (N, C, h, w) in [-1, 1] to (N, C, scale*h, scale*w)."""

    def __init__(self, scale: int = 4, channels: int = 3, width: int = 64, blocks: int = 16):
        super().__init__()
        if scale not in SCALES:
            raise ValueError(f"scale must be one of {SCALES}, got {scale}")
        self.scale = scale
        self.head = nn.Conv2d(channels, width, 3, padding=1)
        self.body = nn.Sequential(*(ResidualBlock(width) for _ in range(blocks)))
        factors = [3] if scale == 3 else [2] * int(math.log2(scale))
        self.upsample = nn.ModuleList(nn.Conv2d(width, width * f * f, 3, padding=1) for f in factors)
        self.factors = factors
        self.conv_hr = nn.Conv2d(width, width, 3, padding=1)
        self.tail = nn.Conv2d(width, channels, 3, padding=1)
        _scaled_kaiming(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = self.body(F.leaky_relu(self.head(x), 0.1))
        for conv, f in zip(self.upsample, self.factors, strict=True):
            features = F.leaky_relu(F.pixel_shuffle(conv(features), f), 0.1)
        detail = self.tail(F.leaky_relu(self.conv_hr(features), 0.1))
        base = F.interpolate(x, scale_factor=self.scale, mode="bicubic", align_corners=False)
        return base + detail


class VGGDiscriminator(nn.Module):
    """SRGAN's D for images of `size` (a multiple of 32): five halvings, a dense layer, one logit."""

    def __init__(self, channels: int = 3, size: int = 128, width: int = 64):
        super().__init__()
        layers: list[nn.Module] = []
        cin = channels
        for level in range(5):
            cout = width * 2 ** min(level, 3)
            layers += [nn.Conv2d(cin, cout, 3, padding=1, bias=level == 0)]
            layers += [nn.BatchNorm2d(cout)] if level else []
            layers += [nn.LeakyReLU(0.2, True), nn.Conv2d(cout, cout, 4, 2, 1, bias=False), nn.BatchNorm2d(cout)]
            layers += [nn.LeakyReLU(0.2, True)]
            cin = cout
        self.features = nn.Sequential(*layers)
        side = size // 32
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(cin * side * side, 100), nn.LeakyReLU(0.2, True),
                                  nn.Linear(100, 1))  # fmt: skip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


class UNetDiscriminator(nn.Module):
    """Real-ESRGAN's D: three strided 4x4 convolutions down, three bilinear steps up with skips, spectral
    norm on every convolution but the first and the last; one logit a pixel. Sizes: multiples of 8."""

    def __init__(self, channels: int = 3, width: int = 64):
        super().__init__()
        sn = nn.utils.parametrizations.spectral_norm

        def conv(cin: int, cout: int, k: int = 3, stride: int = 1) -> nn.Module:
            return sn(nn.Conv2d(cin, cout, k, stride, (k - 1) // 2 if k == 3 else 1, bias=False))

        w = width
        self.first = nn.Conv2d(channels, w, 3, padding=1)
        self.down = nn.ModuleList([conv(w, 2 * w, 4, 2), conv(2 * w, 4 * w, 4, 2), conv(4 * w, 8 * w, 4, 2)])
        self.up = nn.ModuleList([conv(8 * w, 4 * w), conv(4 * w, 2 * w), conv(2 * w, w)])
        self.refine = nn.Sequential(conv(w, w), nn.LeakyReLU(0.2, True), conv(w, w), nn.LeakyReLU(0.2, True))
        self.last = nn.Conv2d(w, 1, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = [F.leaky_relu(self.first(x), 0.2)]
        for conv in self.down:
            skips.append(F.leaky_relu(conv(skips[-1]), 0.2))
        y = skips.pop()
        for conv in self.up:
            y = F.interpolate(y, scale_factor=2, mode="bilinear", align_corners=False)
            y = F.leaky_relu(conv(y), 0.2) + skips.pop()
        return self.last(self.refine(y))


@dataclass
class SRGANOptions(ModelConfig):
    scale: int = option(4, at_least=2, at_most=4)  # the upscaling factor: 2, 3 or 4
    width: int = option(64, positive=True, at_most=1024)  # G's channels
    blocks: int = option(16, positive=True, at_most=64)  # G's residual blocks
    d_arch: str = option("vgg", choices=D_ARCHS)  # vgg (SRGAN) or unet (Real-ESRGAN, spectral norm, a logit a pixel)
    d_width: int = option(64, positive=True, at_most=1024)  # D's channels at its first level
    # how the low-resolution inputs are made from the images: bicubic (antialiased) downscaling, or
    # realworld (Real-ESRGAN's two rounds of blur, resize, noise and JPEG: data/realworld.py)
    inputs: str = option("bicubic", choices=INPUTS)
    degrade_blur: float = option(3.0, at_least=0, at_most=20)  # realworld: largest blur sigma; 0 = no blur
    degrade_resize: bool = True  # realworld: random resizes in each round
    degrade_noise: float = option(30.0, at_least=0, at_most=255)  # realworld: largest noise std, 8-bit levels
    degrade_poisson: float = option(0.4, at_least=0, at_most=1)  # realworld: chance that noise is Poisson
    degrade_jpeg: int = option(30, at_least=1, at_most=100)  # realworld: lowest JPEG quality; 100 = no JPEG
    degrade_second: float = option(1.0, at_least=0, at_most=1)  # realworld: chance of the second round

    def check(self, cfg: Config, origin: str) -> None:
        size = cfg.data.image_size
        multiple = 32 if self.d_arch == "vgg" else 8
        step = math.lcm(multiple, self.scale)
        rule = f"a multiple of {step}: the scale divides it and the {self.d_arch} discriminator halves it"
        require_image_size(size, lambda s: s % step == 0 and s >= max(32, step), "srgan", rule, largest=512)
        if cfg.data.in_channels != cfg.data.channels:
            raise UserError(
                f"data.in_channels={cfg.data.in_channels} and data.channels={cfg.data.channels} in {origin}: "
                "srgan upscales an image to the same channels; set both to 1 (gray) or both to 3 (RGB)"
            )


def _build(cfg: Config) -> tuple[nn.Module, nn.Module]:
    m, c = cfg.model, cfg.data.channels
    g = SRResNet(m.scale, c, m.width, m.blocks)
    if m.d_arch == "unet":
        return g, UNetDiscriminator(c, m.d_width)
    return g, VGGDiscriminator(c, cfg.data.image_size, m.d_width)


register_family(
    Family(
        "srgan",
        "upscale",
        SRGANOptions,
        _build,
        description="super-resolution (Ledig et al. 2017)",
        cpu_bf16=True,  # benchmarks/sr_quality.py: 2.8x the float32 step on an AMX-BF16 CPU, the same PSNR
        g_any_size=True,
    )
)
