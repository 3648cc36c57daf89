"""Seed 002: a configurable U-Net generator for restoration and a double-convolution discriminator.

Generator levels are residual double convolutions whose channels double from level to level, up to
`n_channels` at the bottom. Down levels are joined by 2x2 max pooling. Each up level upsamples
(`upconv`: 2x2 transposed convolution; `upsample`: bilinear x2 then a 1x1 convolution; `pixelshuffle`:
a 1x1 convolution to 4x the channels then PixelShuffle(2)), concatenates the skip of its level, and applies
a residual double convolution. A last 1x1 convolution maps to `out_channels` (linear output).

`padding=False` (the default, as in Ronneberger et al.) uses unpadded 3x3 convolutions: every double
convolution loses 4 pixels, skips are centre-cropped, and the output is smaller than the input
(`UNetGenerator.output_size`). `padding=True` keeps sizes.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..config import Config, ModelConfig, option
from ..errors import UserError
from .family import Family, register_family
from .layers import INIT_SCHEMES, center_crop, require_image_size

UP_MODES = ("upconv", "upsample", "pixelshuffle")


class DoubleConv(nn.Module):
    """Two 3x3 convolutions, each followed by (BatchNorm and) an activation, plus a residual connection
    from the block's input (a 1x1 projection when the channels differ; centre-cropped when unpadded)."""

    def __init__(self, cin: int, cout: int, padding: bool, batch_norm: bool, leaky_slope: float = 0.0):
        super().__init__()
        layers: list[nn.Module] = []
        for c in (cin, cout):
            layers.append(nn.Conv2d(c, cout, 3, padding=int(padding), bias=not batch_norm))
            if batch_norm:
                layers.append(nn.BatchNorm2d(cout))
            layers.append(nn.LeakyReLU(leaky_slope) if leaky_slope else nn.ReLU())
        self.body = nn.Sequential(*layers)
        self.project = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.body(x)
        return y + center_crop(self.project(x), y.shape)


class UpLevel(nn.Module):
    def __init__(self, cin: int, cout: int, up_mode: str, padding: bool, batch_norm: bool):
        super().__init__()
        if up_mode == "upconv":
            self.up: nn.Module = nn.ConvTranspose2d(cin, cout, 2, stride=2)
        elif up_mode == "upsample":
            self.up = nn.Sequential(
                nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False), nn.Conv2d(cin, cout, 1)
            )
        else:
            self.up = nn.Sequential(nn.Conv2d(cin, 4 * cout, 1), nn.PixelShuffle(2))
        self.conv = DoubleConv(2 * cout, cout, padding, batch_norm)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        x = self.up(x)
        return self.conv(torch.cat([center_crop(skip, x.shape), x], dim=1))


class RestorationUNet(nn.Module):
    def __init__(
        self,
        in_channels: int = 1,
        out_channels: int = 1,
        n_levels: int = 4,
        padding: bool = False,
        batch_norm: bool = False,
        up_mode: str = "upsample",
        n_channels: int = 256,
    ):
        super().__init__()
        _check_channels(n_levels, n_channels)
        self.n_levels, self.padding = n_levels, padding
        widths = [n_channels >> (n_levels - 1 - i) for i in range(n_levels)]
        self.down = nn.ModuleList(
            DoubleConv(cin, cout, padding, batch_norm)
            for cin, cout in zip([in_channels, *widths[:-1]], widths, strict=True)
        )
        self.up = nn.ModuleList(
            UpLevel(widths[i + 1], widths[i], up_mode, padding, batch_norm) for i in reversed(range(n_levels - 1))
        )
        self.last = nn.Conv2d(widths[0], out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for i, level in enumerate(self.down):
            x = level(x)
            if i < self.n_levels - 1:
                skips.append(x)
                x = F.max_pool2d(x, 2)
        for level, skip in zip(self.up, reversed(skips), strict=True):
            x = level(x, skip)
        return self.last(x)

    def output_size(self, size: int) -> int | None:
        """The output side for an input side, or None if that size cannot pass through the network."""
        return unet_output_size(size, self.n_levels, self.padding)


def unet_output_size(size: int, n_levels: int, padding: bool) -> int | None:
    shrink = 0 if padding else 4
    for level in range(n_levels):
        size -= shrink
        if size < 1:
            return None
        if level < n_levels - 1:
            if size % 2:
                return None
            size //= 2
    for _ in range(n_levels - 1):
        size = 2 * size - shrink
        if size < 1:
            return None
    return size


def check_unet_size(size: int, n_levels: int, padding: bool) -> int:
    """The output size, or a UserError that names the nearest sizes this depth accepts."""
    require_image_size(
        size,
        lambda s: unet_output_size(s, n_levels, padding) is not None,
        "unet",
        f"n_levels={n_levels} with padding={str(padding).lower()}",
        largest=1024,  # the discriminator's last linear layer grows with the square of the size
    )
    return unet_output_size(size, n_levels, padding)  # type: ignore[return-value]


def _check_channels(n_levels: int, n_channels: int) -> None:
    if n_levels < 1 or n_channels % 2 ** (n_levels - 1):
        raise UserError(
            f"model.n_channels={n_channels} must be divisible by 2**(n_levels-1) = "
            f"{2 ** (n_levels - 1)} (channels halve from the deepest level up); change either"
        )


class DoubleConvDiscriminator(nn.Module):
    """Seed 002's discriminator: four levels of double convolution (channels doubling, 2x2 max pooling
    between them), then two linear layers to one logit. The flatten size follows `image_size`."""

    def __init__(
        self,
        in_channels: int = 1,
        image_size: int = 64,
        width: int = 32,
        batch_norm: bool = False,
        hidden: int = 256,
        leaky_slope: float = 0.2,
        n_levels: int = 4,
    ):
        super().__init__()
        side = image_size // 2**n_levels
        layers: list[nn.Module] = []
        cin = in_channels
        for i in range(n_levels):
            layers += [DoubleConv(cin, width << i, True, batch_norm, leaky_slope), nn.MaxPool2d(2)]
            cin = width << i
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(
            nn.Flatten(), nn.Linear(cin * side * side, hidden), nn.LeakyReLU(leaky_slope), nn.Linear(hidden, 1)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


@dataclass
class UNetOptions(ModelConfig):
    n_levels: int = option(4, positive=True, at_most=8)  # depth
    padding: bool = False  # False: unpadded 3x3 convolutions, the output is smaller than the input
    batch_norm: bool = False  # in both networks
    up_mode: str = option("upsample", choices=UP_MODES)
    # G's channels at the deepest level (latent_dim in seed 002)
    n_channels: int = option(256, positive=True, at_most=8192)
    d_width: int = option(32, positive=True, at_most=1024)  # D's channels at its first level, doubling per level
    d_leaky_slope: float = option(0.2, at_least=0, at_most=1)  # D's LeakyReLU; G uses ReLU
    d_conditional: bool = False  # D judges (input, image) pairs instead of the image alone
    init: str = option("torch", choices=INIT_SCHEMES)

    def check(self, cfg: Config, origin: str) -> None:
        _check_channels(self.n_levels, self.n_channels)
        out = check_unet_size(cfg.data.image_size, self.n_levels, self.padding)
        if out < 16:
            raise UserError(
                f"data.image_size={cfg.data.image_size} gives {out}x{out} outputs, smaller than the 16x16 the "
                "discriminator needs; use a larger --image-size"
            )


def _output_size(cfg: Config) -> int:
    return check_unet_size(cfg.data.image_size, cfg.model.n_levels, cfg.model.padding)


def _build(cfg: Config) -> tuple[nn.Module, nn.Module]:
    m, d = cfg.model, cfg.data
    g = RestorationUNet(d.in_channels, d.channels, m.n_levels, m.padding, m.batch_norm, m.up_mode, m.n_channels)
    d_in = d.channels + (d.in_channels if m.d_conditional else 0)
    return g, DoubleConvDiscriminator(d_in, _output_size(cfg), m.d_width, m.batch_norm, leaky_slope=m.d_leaky_slope)


register_family(Family("unet", "paired", UNetOptions, _build, output_size=_output_size, description="seed 002"))
