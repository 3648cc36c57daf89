"""What a model family is: its networks, its task, its own options, and how its generator is run.

A family registers one `Family` in `FAMILIES` (see the bottom of dcgan.py, pix2pix.py and unet.py). The
training loop, the CLI and the checkpoint code never name a family: adding one touches its own file and a
registry line.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from torch import nn

from ..config import Config, ModelConfig
from ..registry import FAMILIES
from .contract import InferenceContract


def _same_size(cfg: Config) -> int:
    return cfg.data.image_size


def _running_statistics(cfg: Config) -> InferenceContract:
    return InferenceContract()


@dataclass(frozen=True)
class Family:
    """A model family: `build(cfg)` gives (generator, discriminator) before initialisation; `options` is
    the class of its `model.*` keys, which also checks them; `task` names how it trains (train/tasks.py);
    `cpu_bf16`: whether bfloat16 autocast speeds its training step up on a CPU with native bfloat16, as
    measured with benchmarks/train_speed.py (precision auto takes it there where it does); `g_any_size`: G is
    fully convolutional, so its weights fit a run of another image size (train/init_from.py)."""

    name: str
    task: str
    options: type[ModelConfig]
    build: Callable[[Config], tuple[nn.Module, nn.Module]]
    output_size: Callable[[Config], int] = _same_size
    inference: Callable[[Config], InferenceContract] = _running_statistics
    description: str = ""
    cpu_bf16: bool = True
    g_any_size: bool = False


def register_family(family: Family) -> Family:
    FAMILIES.register(family.name, family)
    return family
