"""The R3GAN baseline's networks (Huang et al., NeurIPS 2024, "The GAN is dead; long live the GAN!"), read
from the paper and its public code: a modernised ResNet without normalisation layers.

Both networks are stages of residual blocks, one stage a resolution from 4x4 to the image size:
- a residual block is an inverted bottleneck: a 1x1 convolution expanding the channels (`expansion`), a
  3x3 grouped convolution (`group_width` channels a group), a 1x1 convolution back, each of the first two
  followed by a learned bias and LeakyReLU(0.2); the branch is added to its input;
- fix-up style initialisation: weights N(0, gain / sqrt(fan_in)), the first two layers of a branch scaled
  down by the number of blocks L (gain * L^(-1/4)), the last layer of each branch zero, so that every block
  starts as the identity;
- resampling by a fixed [1, 3, 3, 1] low-pass filter (bilinear), the channel change by a 1x1 convolution;
- G starts from a learned basis (4x4 for the paper's sizes; 7x7 for 28-pixel digits) modulated by a linear
  map of the noise and ends in a 1x1 convolution to the image; D starts with a 1x1 convolution from the
  image and ends in a depthwise "basis" of the same size and a linear layer to one logit; no minibatch
  standard deviation.
The stages up to `full_width_up_to` pixels (32: the paper's layouts) have `width` channels, each doubling
above it halves them (the paper's FFHQ layout); a smaller value makes the network cheap at high resolution.
The losses (RpGAN with R1 and R2) and schedules are the config's (loss.gan=rpgan, loss.r1, loss.r2).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..config import Config, NoiseOptions, option
from ..errors import UserError
from .family import Family, register_family
from .layers import require_image_size

SLOPE = 0.2
GAIN = math.sqrt(2 / (1 + SLOPE**2))  # LeakyReLU(0.2)'s gain
MAX_LATENT, MAX_WIDTH = 4096, 4096
LARGEST = 512


def basis_size(image_size: int) -> int:
    """The side of the first stage: the image size halved while it stays even and at least 4."""
    side = image_size
    while side % 2 == 0 and side // 2 >= 4:
        side //= 2
    return side


def fits(image_size: int) -> bool:
    """Sizes b * 2^k with a basis b of 4 to 7 and at least one upsampling: 8, 10, 12, 14, 16, 20, 24, 28, 32..."""
    return 8 <= image_size <= LARGEST and basis_size(image_size) <= 7


def _msr(layer: nn.Conv2d | nn.Linear, gain: float = 1.0) -> nn.Module:
    """Weights N(0, gain / sqrt(fan_in)); no bias (the activations carry one)."""
    fan_in = layer.weight[0].numel()
    nn.init.normal_(layer.weight, 0.0, gain / math.sqrt(fan_in))
    return layer


def _conv(cin: int, cout: int, kernel: int = 1, groups: int = 1, gain: float = 1.0) -> nn.Module:
    return _msr(nn.Conv2d(cin, cout, kernel, padding=kernel // 2, groups=groups, bias=False), gain)


class BiasedLeakyReLU(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.leaky_relu(x + self.bias.view(1, -1, 1, 1).to(x.dtype), SLOPE)


def _groups(channels: int, group_width: int) -> int:
    """The number of groups of the grouped convolution: about channels / group_width, a divisor of them."""
    groups = max(1, channels // group_width)
    while channels % groups:
        groups -= 1
    return groups


class ResidualBlock(nn.Module):
    def __init__(self, channels: int, expansion: int, group_width: int, total_blocks: int):
        super().__init__()
        wide = channels * expansion
        gain = GAIN * total_blocks ** (-1 / 4)  # three layers a branch: L^(-1 / (2 * 3 - 2))
        self.branch = nn.Sequential(
            _conv(channels, wide, gain=gain),
            BiasedLeakyReLU(wide),
            _conv(wide, wide, 3, groups=_groups(wide, group_width), gain=gain),
            BiasedLeakyReLU(wide),
            _conv(wide, channels, gain=0.0),  # zero: the block starts as the identity
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.branch(x)


class Resample(nn.Module):
    """Up (x2) or down (/2) by the [1, 3, 3, 1] low-pass filter, each channel alone; a 1x1 convolution changes
    the channels (before upsampling, after downsampling: on the fewer pixels)."""

    def __init__(self, cin: int, cout: int, up: bool):
        super().__init__()
        taps = torch.tensor([1.0, 3.0, 3.0, 1.0])
        kernel = torch.outer(taps, taps) / taps.sum() ** 2 * (4 if up else 1)  # up: each output gets 1/4 of the taps
        self.channels = cout if up else cin  # the channels the filter runs on
        # the kernel of each channel, whole: exporters need a kernel of known shape
        self.register_buffer("kernel", kernel.expand(self.channels, 1, 4, 4).contiguous(), persistent=False)
        self.up = up
        self.project = _conv(cin, cout) if cin != cout else nn.Identity()

    def _filter(self, x: torch.Tensor) -> torch.Tensor:
        if x.device.type == "cpu" and x.dtype == torch.bfloat16:
            # oneDNN has no bfloat16 kernel for this depthwise filter: its fallback took 40% of the step
            with torch.autocast("cpu", enabled=False):
                return self._filter(x.float()).to(x.dtype)
        k = self.kernel.to(x.dtype)
        if self.up:
            return F.conv_transpose2d(x, k, stride=2, padding=1, groups=self.channels)
        return F.conv2d(x, k, stride=2, padding=1, groups=self.channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._filter(self.project(x)) if self.up else self.project(self._filter(x))


def per_stage(blocks: int | list[int], widths: list[int]) -> list[int]:
    """Blocks at each stage, from the basis up: `blocks` at every stage, or a count each."""
    return [blocks] * len(widths) if isinstance(blocks, int) else list(blocks)


STAGE_BLOCKS_RULE = "is not comma-separated counts of 0 to 16, one a stage from the lowest resolution up, e.g. 1,1,0"


def parse_stage_blocks(text: str) -> list[int] | None:
    """'1,1,0' -> [1, 1, 0]; None if the text is not comma-separated counts from 0 to 16."""
    parts = [p.strip() for p in text.split(",")]
    if not all(p.isdigit() and int(p) <= 16 for p in parts):
        return None
    return [int(p) for p in parts]


def stage_sizes(image_size: int) -> list[int]:
    """The side of each stage, from the basis to the image size."""
    sizes = [basis_size(image_size)]
    while sizes[-1] < image_size:
        sizes.append(2 * sizes[-1])
    return sizes


def stage_widths(image_size: int, width: int, full_width_up_to: int = 32) -> list[int]:
    """Channels of the stages from the basis to the image size: `width` up to `full_width_up_to` pixels,
    halved at each doubling above."""
    return [max(1, width >> max(0, math.ceil(math.log2(s / full_width_up_to)))) for s in stage_sizes(image_size)]


class R3Generator(nn.Module):
    def __init__(self, latent_dim: int, channels: int, image_size: int, widths: list[int], blocks: int | list[int],
                 expansion: int, group_width: int):  # fmt: skip
        super().__init__()
        counts = per_stage(blocks, widths)
        total = max(sum(counts), 1)
        side = basis_size(image_size)
        self.basis = nn.Parameter(torch.randn(widths[0], side, side))
        self.modulate = _msr(nn.Linear(latent_dim, widths[0], bias=False))
        stages = []
        for i, w in enumerate(widths):
            layers = [Resample(widths[i - 1], w, up=True)] if i else []
            layers += [ResidualBlock(w, expansion, group_width, total) for _ in range(counts[i])]
            stages.append(nn.Sequential(*layers))
        self.stages = nn.Sequential(*stages)
        self.to_image = _conv(widths[-1], channels)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = self.basis.unsqueeze(0).to(z.dtype) * self.modulate(z)[:, :, None, None]
        return self.to_image(self.stages(x))


class R3Discriminator(nn.Module):
    def __init__(self, channels: int, image_size: int, widths: list[int], blocks: int | list[int], expansion: int,
                 group_width: int):  # fmt: skip
        super().__init__()
        side = basis_size(image_size)
        counts = per_stage(blocks, widths)[::-1]
        widths = widths[::-1]  # from the image size down to the basis
        total = max(sum(counts), 1)
        self.from_image = _conv(channels, widths[0])
        stages = []
        for i, w in enumerate(widths):
            layers: list[nn.Module] = [ResidualBlock(w, expansion, group_width, total) for _ in range(counts[i])]
            layers += [Resample(w, widths[i + 1], up=False)] if i + 1 < len(widths) else []
            stages.append(nn.Sequential(*layers))
        self.stages = nn.Sequential(*stages)
        self.basis = _msr(nn.Conv2d(widths[-1], widths[-1], side, groups=widths[-1], bias=False))  # to 1x1
        self.logit = _msr(nn.Linear(widths[-1], 1, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.logit(self.basis(self.stages(self.from_image(x))).flatten(1))


@dataclass
class R3GANOptions(NoiseOptions):
    latent_dim: int = option(64, positive=True, at_most=MAX_LATENT)  # the paper: 64
    # channels of the stages up to 32x32 (halved at each doubling above); the paper's CIFAR-10 model: 768
    width: int = option(128, positive=True, at_most=MAX_WIDTH)
    blocks: int = option(2, positive=True, at_most=16)  # residual blocks a stage (the paper: 2)
    # blocks at each stage from the basis up, e.g. "1,1,0" (R3GAN's BlocksPerStage); "" = `blocks` everywhere
    stage_blocks: str = option("", check=lambda v: None if not v or parse_stage_blocks(v) else STAGE_BLOCKS_RULE)
    expansion: int = option(2, positive=True, at_most=8)  # the inverted bottleneck's widening (the paper: 2)
    group_width: int = option(16, positive=True, at_most=MAX_WIDTH)  # channels a group of the 3x3 convolution
    # stages up to this many pixels have `width` channels, each doubling above halves them (the paper: 32)
    full_width_up_to: int = option(32, positive=True, at_most=LARGEST)

    def check(self, cfg: Config, origin: str) -> None:
        rule = "b * 2^k pixels with b from 4 to 7, at most 512: 8, 16, 28, 32, 64, 128..."
        require_image_size(cfg.data.image_size, fits, "r3gan", rule, largest=LARGEST)
        if self.stage_blocks:
            stages = len(stage_sizes(cfg.data.image_size))
            counts = parse_stage_blocks(self.stage_blocks)
            if counts is None or len(counts) != stages:
                raise UserError(
                    f"model.stage_blocks={self.stage_blocks!r} in {origin}: give {stages} comma-separated counts "
                    f"(0 to 16), one for each stage of {stage_sizes(cfg.data.image_size)} pixels, e.g. "
                    f"{','.join(['1'] * stages)}"
                )


def _build(cfg: Config) -> tuple[nn.Module, nn.Module]:
    m, d = cfg.model, cfg.data
    widths = stage_widths(d.image_size, m.width, m.full_width_up_to)
    blocks = parse_stage_blocks(m.stage_blocks) if m.stage_blocks else m.blocks
    shape = (d.image_size, widths, blocks, m.expansion, m.group_width)
    return R3Generator(m.latent_dim, d.channels, *shape), R3Discriminator(d.channels, *shape)


# bfloat16 made r3gan-digits' step 1.4x slower on an AVX512-BF16 CPU (its grouped, narrow convolutions)
register_family(
    Family("r3gan", "unconditional", R3GANOptions, _build, description="R3GAN (Huang et al. 2024)", cpu_bf16=False)
)
