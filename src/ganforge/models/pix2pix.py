"""pix2pix (Isola et al. 2017) as the TensorFlow pix2pix tutorial builds it: a U-Net generator and a
70x70 PatchGAN discriminator, in PyTorch (NCHW).

Keras defaults are kept where they change the numbers: BatchNormalization eps=1e-3 and momentum 0.99
(PyTorch momentum=0.01), LeakyReLU slope 0.3. A 4x4 stride-2 convolution with padding 1 equals Keras'
padding="same" on even sizes, so shapes and parameter counts match the Keras summary.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..config import Config, ModelConfig, option
from ..errors import UserError
from .contract import InferenceContract
from .family import Family, register_family
from .layers import INIT_SCHEMES, is_power_of_two, require_image_size

BN_EPS = 1e-3
BN_MOMENTUM = 0.01


class KerasBatchNorm2d(nn.BatchNorm2d):
    """BatchNorm that, like Keras, also trains on a single value per channel (batch 1 at the U-Net's 1x1
    bottleneck, the pix2pix default): the value normalises to zero and the layer outputs its beta.
    PyTorch's BatchNorm2d refuses that case."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training and x.shape[0] * x.shape[2] * x.shape[3] == 1:
            if self.track_running_stats:
                with torch.no_grad():  # Keras' moving averages; the batch variance of one value is 0
                    self.running_mean.lerp_(x.detach().flatten().to(self.running_mean.dtype), self.momentum)
                    self.running_var.mul_(1 - self.momentum)
                    self.num_batches_tracked.add_(1)
            return x * 0 + self.bias.view(1, -1, 1, 1).to(x.dtype)  # zero gradient to x, as in Keras
        return super().forward(x)


def _batch_norm(channels: int) -> nn.BatchNorm2d:
    return KerasBatchNorm2d(channels, eps=BN_EPS, momentum=BN_MOMENTUM)


def _norm(channels: int, instance: bool) -> nn.Module:
    """Keras' BatchNorm, or (CycleGAN's U-Net) instance norm without affine parameters."""
    return nn.InstanceNorm2d(channels) if instance else _batch_norm(channels)


def _check_image_size(image_size: int, minimum: int) -> None:
    require_image_size(
        image_size, lambda s: s >= minimum and is_power_of_two(s), "pix2pix", f"a power of two >= {minimum}"
    )


class DownBlock(nn.Sequential):
    """Conv 4x4 stride 2 (no bias) -> BatchNorm -> LeakyReLU; halves the spatial size. `instance`: instance
    norm, and the convolution keeps its bias (instance norm has no shift of its own)."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        batch_norm: bool = True,
        leaky_slope: float = 0.3,
        instance: bool = False,
    ):
        bias = instance  # the TF tutorial's blocks have none; the reference CycleGAN's with instance norm have one
        layers: list[nn.Module] = [nn.Conv2d(in_channels, out_channels, 4, stride=2, padding=1, bias=bias)]
        if batch_norm:
            layers.append(_norm(out_channels, instance))
        layers.append(nn.LeakyReLU(leaky_slope))
        super().__init__(*layers)


class UpBlock(nn.Sequential):
    """ConvTranspose 4x4 stride 2 (no bias) -> BatchNorm -> Dropout -> ReLU; doubles the spatial size."""

    def __init__(self, in_channels: int, out_channels: int, dropout: float = 0.0, instance: bool = False):
        layers: list[nn.Module] = [
            nn.ConvTranspose2d(in_channels, out_channels, 4, stride=2, padding=1, bias=instance),
            _norm(out_channels, instance),
        ]
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        layers.append(nn.ReLU())
        super().__init__(*layers)


class Pix2PixGenerator(nn.Module):
    """U-Net with log2(image_size) levels, so the bottleneck is 1x1 (8 levels at 256x256).

    Level i has width * min(2**i, max_width_mult) channels; the up path mirrors the down path and each
    up output is concatenated with the matching down output before the next up block. `instance`: instance
    norm in place of BatchNorm (CycleGAN's U-Net option), none at the 1x1 bottleneck, where it would zero it.
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
        instance: bool = False,
    ):
        super().__init__()
        _check_image_size(image_size, minimum=16)
        self.image_size = image_size
        levels = image_size.bit_length() - 1
        widths = [width * min(2**i, max_width_mult) for i in range(levels)]

        self.down = nn.ModuleList()
        prev = in_channels
        for i, w in enumerate(widths):
            normed = i > 0 and not (instance and i == levels - 1)
            self.down.append(DownBlock(prev, w, batch_norm=normed, leaky_slope=leaky_slope, instance=instance))
            prev = w

        self.up = nn.ModuleList()
        skip_widths = widths[-2::-1]
        for j, w in enumerate(skip_widths):
            self.up.append(UpBlock(prev, w, dropout=dropout if j < 3 else 0.0, instance=instance))
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
        self.down1 = DownBlock(in_channels, width, batch_norm=False, leaky_slope=leaky_slope)
        self.down2 = DownBlock(width, width * 2, leaky_slope=leaky_slope)
        self.down3 = DownBlock(width * 2, width * 4, leaky_slope=leaky_slope)
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


@dataclass
class Pix2PixOptions(ModelConfig):
    width: int = option(64, positive=True, at_most=1024)  # both networks: ngf and ndf of the paper
    leaky_slope: float = option(0.3, at_least=0, at_most=1)  # both networks (the tutorial's Keras default)
    g_dropout: float = option(0.5, at_least=0, below=1)  # the first three decoder blocks
    d_conditional: bool = True  # D judges (input, image) pairs; false: the image alone
    init: str = option("normal", choices=INIT_SCHEMES)

    def check(self, cfg: Config, origin: str) -> None:
        _check_image_size(cfg.data.image_size, minimum=32)  # below 32 the PatchGAN has no output left
        if not 0.0 <= self.g_dropout < 1.0:
            raise UserError(f"config key 'model.g_dropout' in {origin} must be in [0, 1), got {self.g_dropout}")


def _build(cfg: Config) -> tuple[nn.Module, nn.Module]:
    m, d = cfg.model, cfg.data
    g = Pix2PixGenerator(d.in_channels, d.channels, d.image_size, m.width, m.g_dropout, m.leaky_slope)
    d_in = d.channels + (d.in_channels if m.d_conditional else 0)
    return g, PatchDiscriminator(d_in, m.width, m.leaky_slope)


def _inference(cfg: Config) -> InferenceContract:
    """Normalise as the generator trained. At batch 1 (the preset) that is each input's own statistics
    with dropout on, as the paper and the TensorFlow tutorial run it at test time: the running averages
    of a batch-1 run describe no batch it ever saw (the 1x1 bottleneck's variance decays towards 0, so
    eval mode multiplies what reaches it by about 30). At larger batches the running averages estimate
    the training batches' statistics, and eval mode is used (on the embedded shapes at batch 8 it scores
    0.3 dB above per-input statistics)."""
    if cfg.train.batch_size == 1:
        return InferenceContract(batch_statistics=True, dropout=True)
    return InferenceContract()


register_family(Family("pix2pix", "paired", Pix2PixOptions, _build, inference=_inference, description="seed 000"))
