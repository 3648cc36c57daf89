"""pix2pix (Isola et al. 2017) as the TensorFlow pix2pix tutorial builds it: a U-Net generator and a
70x70 PatchGAN discriminator, in PyTorch (NCHW).

Keras defaults are kept where they change the numbers: BatchNormalization eps=1e-3 and momentum 0.99
(PyTorch momentum=0.01), LeakyReLU slope 0.3. A 4x4 stride-2 convolution with padding 1 equals Keras'
padding="same" on even sizes, so shapes and parameter counts match the Keras summary.
"""

from __future__ import annotations

import torch
from torch import nn

from ganforge.errors import UserError
from ganforge.models.layers import init_weights

BN_EPS = 1e-3
BN_MOMENTUM = 0.01


class KerasBatchNorm2d(nn.BatchNorm2d):
    """BatchNorm that, like Keras, also trains on a single value per channel (batch 1 at the U-Net's 1x1
    bottleneck, the pix2pix default): the value normalises to zero and the layer outputs its beta.
    PyTorch's BatchNorm2d refuses that case."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training and x.shape[0] * x.shape[2] * x.shape[3] == 1:
            with torch.no_grad():  # Keras' moving averages; the batch variance of one value is 0
                self.running_mean.lerp_(x.detach().flatten(), self.momentum)
                self.running_var.mul_(1 - self.momentum)
                self.num_batches_tracked.add_(1)
            return x * 0 + self.bias.view(1, -1, 1, 1)  # zero gradient to x, as in Keras
        return super().forward(x)


def _batch_norm(channels: int) -> nn.BatchNorm2d:
    return KerasBatchNorm2d(channels, eps=BN_EPS, momentum=BN_MOMENTUM)


def _check_positive(name: str, value: int) -> None:
    if not isinstance(value, int) or value < 1:
        raise UserError(f"{name}={value!r} must be a positive integer")


def _check_image_size(image_size: int, minimum: int = 16) -> None:
    if isinstance(image_size, int) and image_size >= minimum and image_size & (image_size - 1) == 0:
        return
    if not isinstance(image_size, int):
        raise UserError(f"image_size={image_size!r} must be an integer power of two >= {minimum}, e.g. 256")
    if image_size < minimum:
        raise UserError(f"image_size={image_size} is too small; use a power of two >= {minimum}")
    lower = 1 << (image_size.bit_length() - 1)
    raise UserError(f"image_size={image_size} is not a power of two; use {lower} or {lower * 2}")


class Downsample(nn.Sequential):
    """Conv 4x4 stride 2 (no bias) -> BatchNorm -> LeakyReLU; halves the spatial size."""

    def __init__(self, in_channels: int, out_channels: int, batch_norm: bool = True, leaky_slope: float = 0.3):
        layers: list[nn.Module] = [nn.Conv2d(in_channels, out_channels, 4, stride=2, padding=1, bias=False)]
        if batch_norm:
            layers.append(_batch_norm(out_channels))
        layers.append(nn.LeakyReLU(leaky_slope))
        super().__init__(*layers)


class Upsample(nn.Sequential):
    """ConvTranspose 4x4 stride 2 (no bias) -> BatchNorm -> Dropout -> ReLU; doubles the spatial size."""

    def __init__(self, in_channels: int, out_channels: int, dropout: float = 0.0):
        layers: list[nn.Module] = [
            nn.ConvTranspose2d(in_channels, out_channels, 4, stride=2, padding=1, bias=False),
            _batch_norm(out_channels),
        ]
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        layers.append(nn.ReLU())
        super().__init__(*layers)


class UNetGenerator(nn.Module):
    """U-Net with log2(image_size) levels, so the bottleneck is 1x1 (8 levels at 256x256).

    Level i has width * min(2**i, max_width_mult) channels; the up path mirrors the down path and each
    up output is concatenated with the matching down output before the next up block.
    """

    def __init__(
        self,
        in_channels: int = 3,
        out_channels: int = 3,
        image_size: int = 256,
        width: int = 64,
        dropout: float = 0.5,
        leaky_slope: float = 0.3,
        max_width_mult: int = 8,
    ):
        super().__init__()
        _check_image_size(image_size)
        for name, value in (
            ("in_channels", in_channels),
            ("out_channels", out_channels),
            ("width", width),
            ("max_width_mult", max_width_mult),
        ):
            _check_positive(name, value)
        if not 0.0 <= dropout < 1.0:
            raise UserError(f"dropout={dropout} must be in [0, 1); the tutorial uses 0.5")
        self.image_size = image_size
        levels = image_size.bit_length() - 1
        widths = [width * min(2**i, max_width_mult) for i in range(levels)]

        self.down = nn.ModuleList()
        prev = in_channels
        for i, w in enumerate(widths):
            self.down.append(Downsample(prev, w, batch_norm=i > 0, leaky_slope=leaky_slope))
            prev = w

        self.up = nn.ModuleList()
        skip_widths = widths[-2::-1]
        for j, w in enumerate(skip_widths):
            self.up.append(Upsample(prev, w, dropout=dropout if j < 3 else 0.0))
            prev = w + w  # the up output plus its skip of the same width

        self.last = nn.ConvTranspose2d(prev, out_channels, 4, stride=2, padding=1)
        self.tanh = nn.Tanh()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for down in self.down:
            x = down(x)
            skips.append(x)
        for up, skip in zip(self.up, reversed(skips[:-1]), strict=True):
            x = torch.cat([up(x), skip], dim=1)
        return self.tanh(self.last(x))


class PatchDiscriminator(nn.Module):
    """70x70 PatchGAN: one logit per overlapping 70x70 patch of the (input, target) pair.

    Output is (N, 1, S/8 - 2, S/8 - 2): 30x30 at 256x256.
    """

    def __init__(self, in_channels: int = 6, width: int = 64, leaky_slope: float = 0.3):
        super().__init__()
        _check_positive("in_channels", in_channels)
        _check_positive("width", width)
        self.down1 = Downsample(in_channels, width, batch_norm=False, leaky_slope=leaky_slope)
        self.down2 = Downsample(width, width * 2, leaky_slope=leaky_slope)
        self.down3 = Downsample(width * 2, width * 4, leaky_slope=leaky_slope)
        self.pad1 = nn.ZeroPad2d(1)
        self.conv = nn.Conv2d(width * 4, width * 8, 4, stride=1, bias=False)
        self.bn = _batch_norm(width * 8)
        self.act = nn.LeakyReLU(leaky_slope)
        self.pad2 = nn.ZeroPad2d(1)
        self.last = nn.Conv2d(width * 8, 1, 4, stride=1)

    def forward(self, input: torch.Tensor, target: torch.Tensor | None = None) -> torch.Tensor:
        """Logits for (input, target) pairs, or for `input` alone when it is the concatenated pair."""
        x = input if target is None else torch.cat([input, target], dim=1)
        x = self.down3(self.down2(self.down1(x)))
        x = self.act(self.bn(self.conv(self.pad1(x))))
        return self.last(self.pad2(x))


def build_pix2pix(
    in_channels: int,
    out_channels: int,
    image_size: int,
    width: int = 64,
    dropout: float = 0.5,
    leaky_slope: float = 0.3,
    init: str = "normal",
) -> tuple[nn.Module, nn.Module]:
    """(generator, discriminator) with weights initialised by `init` ("normal", "keras" or "torch").

    Needs image_size >= 32: below that the PatchGAN has no output left.
    """
    _check_image_size(image_size, minimum=32)
    generator = UNetGenerator(
        in_channels, out_channels, image_size, width=width, dropout=dropout, leaky_slope=leaky_slope
    )
    discriminator = PatchDiscriminator(in_channels + out_channels, width=width, leaky_slope=leaky_slope)
    try:
        init_weights(generator, init)
        init_weights(discriminator, init)
    except ValueError as err:
        raise UserError(f"init={init!r} is unknown; use normal, keras or torch") from err
    return generator, discriminator
