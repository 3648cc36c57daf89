"""What differs between a noise-to-image GAN and an image-to-image GAN, and nothing else.

A task says how a batch splits into (condition, real images), how the generator makes fakes, how the
discriminator judges images (alone, or paired with their condition), which reconstruction terms the
generator adds, what the sample grid shows and what example inputs the networks take. A family names its
task (`Family.task`); the objective (`objective.py`) and the loop (`loop.py`) own the rest.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from ..config import Config
from ..data import held_out_pairs
from ..data.augment import random_jitter
from ..data.base import ImageDataset
from ..data.degrade import degrade, parse_degradations
from ..data.images import as_channels
from ..losses import RECONSTRUCTION_LOSSES, reconstruction_weights
from ..models import generator_output_size, noise
from ..models.contract import InferenceContract
from ..models.layers import center_crop
from ..registry import TASKS


class Task:
    """The interface of a task. `weights`: the generator's reconstruction terms and their weights."""

    def __init__(self, cfg: Config, dataset: ImageDataset | None = None):
        self.cfg = cfg
        self.weights: dict[str, float] = {}
        self.last_noise: torch.Tensor | None = None  # the noise of the last fakes, where they come from noise

    def split(self, batch: Any) -> tuple[Any, torch.Tensor]:
        """(condition, real images) of a batch from the data."""
        raise NotImplementedError

    def generate(self, g: nn.Module, cond: Any, n: int, device: torch.device) -> torch.Tensor:
        raise NotImplementedError

    def discriminate(self, d: Callable[[torch.Tensor], torch.Tensor], cond: Any, images: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def reconstruction_losses(self, fake: torch.Tensor, real: torch.Tensor) -> dict[str, torch.Tensor]:
        """The terms whose weight in `cfg.loss` is not zero (`weights`), unweighted (the objective weights them)."""
        if not self.weights:
            return {}
        fake, real = fake.float(), real.float()
        return {name: RECONSTRUCTION_LOSSES.get(name)(fake, real) for name in self.weights}

    def fixed_inputs(self) -> Any:
        """What the sample grid shows the generator, the same for the whole run."""
        raise NotImplementedError

    def sample_grid(self, g: nn.Module, contract: InferenceContract, fixed: Any) -> tuple[torch.Tensor, int]:
        """The grid's images and how many a row."""
        raise NotImplementedError

    @staticmethod
    def example_inputs(cfg: Config, which: str, n: int = 2) -> tuple[torch.Tensor, ...]:
        """A batch that the generator (`which="g"`) or the discriminator (`"d"`) accepts."""
        raise NotImplementedError


class UnconditionalTask(Task):
    """Seeds 001, 003, 004: G maps Gaussian noise to images; D judges an image alone. With
    `model.conditional` a batch is (images, labels): D judges each image with its class, the fakes of a
    step are asked for the classes of its reals, and the sample grid has a row per class."""

    def __init__(self, cfg: Config, dataset: ImageDataset | None = None):
        super().__init__(cfg, dataset)
        self.classes = cfg.model.num_classes if cfg.conditional else 0

    def split(self, batch: Any) -> tuple[torch.Tensor | None, torch.Tensor]:
        return (batch[1], batch[0]) if self.classes else (None, batch)

    @staticmethod
    def noise(
        cfg: Config, n: int, generator: torch.Generator | None = None, device: torch.device | None = None
    ) -> torch.Tensor:
        return noise(cfg, n, generator, device)

    def generate(self, g: nn.Module, cond: torch.Tensor | None, n: int, device: torch.device) -> torch.Tensor:
        """Fakes from fresh noise (kept as `last_noise`). Conditional: the classes of the batch's first half
        of reals, twice, so that image i and image i + n/2 share a class (the mode-seeking pairs)."""
        z = self.last_noise = self.noise(self.cfg, n, device=device)
        if not self.classes:
            return g(z)
        if cond is None or len(cond) != n:
            cond = torch.randint(self.classes, (n,), device=device)
        return g(z, cond[: (n + 1) // 2].repeat(2)[:n])

    def discriminate(
        self, d: Callable[..., torch.Tensor], cond: torch.Tensor | None, images: torch.Tensor
    ) -> torch.Tensor:
        return d(images, cond) if self.classes else d(images)

    def grid_rows(self) -> int:
        """Rows of the sample grid: `train.grid_size`, or one per class (at most 32) for a conditional run."""
        return min(self.classes, 32) if self.classes else self.cfg.train.grid_size

    def fixed_inputs(self) -> Any:
        """The noise of the sample grid (and, conditional, its labels: row k asks for class k), kept for
        the whole run (and in its checkpoints)."""
        gen = torch.Generator().manual_seed(self.cfg.train.seed)
        n = self.grid_rows() * self.cfg.train.grid_size
        z = self.noise(self.cfg, n, gen)
        if not self.classes:
            return z
        return [z, torch.arange(self.grid_rows()).repeat_interleave(self.cfg.train.grid_size)]

    def sample_grid(self, g: nn.Module, contract: InferenceContract, fixed: Any) -> tuple[torch.Tensor, int]:
        if self.classes:
            return contract.run(g, fixed[0], labels=fixed[1]), self.cfg.train.grid_size
        return contract.run(g, fixed), self.cfg.train.grid_size

    @staticmethod
    def example_inputs(cfg: Config, which: str, n: int = 2) -> tuple[torch.Tensor, ...]:
        s = cfg.data.image_size
        labels = (torch.zeros(n, dtype=torch.long),) if cfg.conditional else ()
        if which == "g":
            return (torch.zeros(n, cfg.model.latent_dim), *labels)
        return (torch.zeros(n, cfg.data.channels, s, s), *labels)


class PairedTask(Task):
    """Seeds 000 and 002: G translates or restores an input image; D judges (input, image) pairs
    (`model.d_conditional`, pix2pix) or images alone (seed 002); G adds weighted reconstruction terms.

    With `data.degrade` the batches are clean images and the inputs are made from them on the fly.
    An unpadded U-Net's output is smaller than its input: targets are centre-cropped to it.
    """

    def __init__(self, cfg: Config, dataset: ImageDataset | None = None):
        super().__init__(cfg, dataset)
        # a data set may forbid mirroring and cropping (shapes: its light comes from the upper left)
        self.jitter = cfg.data.jitter and not cfg.data.degrade and (dataset is None or dataset.jitter_ok)
        self.degradations = parse_degradations(cfg.data.degrade) if cfg.data.degrade else []
        self.out_size = generator_output_size(cfg)
        self.weights = reconstruction_weights(cfg)

    def split(self, batch: Any) -> tuple[torch.Tensor, torch.Tensor]:
        if self.degradations:
            target = batch
            inp = degrade(target, self.degradations)
        else:
            inp, target = batch
            if self.jitter:
                inp, target = random_jitter(inp, target, self.cfg.data.image_size)
        return inp, center_crop(target, (self.out_size, self.out_size))

    def generate(self, g: nn.Module, cond: torch.Tensor, n: int, device: torch.device) -> torch.Tensor:
        return g(cond)

    def discriminate(
        self, d: Callable[[torch.Tensor], torch.Tensor], cond: torch.Tensor, images: torch.Tensor
    ) -> torch.Tensor:
        if self.cfg.model.d_conditional:
            return d(torch.cat([center_crop(cond, images.shape), images], dim=1))
        return d(images)

    def fixed_inputs(self) -> list[torch.Tensor]:
        """The first pairs of the held-out split (val, else test, else the training pairs): [inputs, targets]."""
        held_out, _ = held_out_pairs(self.cfg, ("val", "test", "train"))
        pairs = [held_out[i] for i in range(min(self.cfg.train.grid_size, 8, len(held_out)))]
        return [torch.stack([p[0] for p in pairs]), torch.stack([p[1] for p in pairs])]

    def sample_grid(
        self, g: nn.Module, contract: InferenceContract, fixed: list[torch.Tensor]
    ) -> tuple[torch.Tensor, int]:
        """Rows of input | output | target."""
        inp, target = fixed
        out = contract.run(g, inp).cpu()
        inp, target = center_crop(inp, out.shape), center_crop(target, out.shape)
        return torch.stack([as_channels(inp, out.shape[1]), out, target], dim=1).flatten(0, 1), 3

    @staticmethod
    def example_inputs(cfg: Config, which: str, n: int = 2) -> tuple[torch.Tensor, ...]:
        s = cfg.data.image_size
        if which == "g":
            return (torch.zeros(n, cfg.data.in_channels, s, s),)
        out = generator_output_size(cfg)
        channels = cfg.data.channels + (cfg.data.in_channels if cfg.model.d_conditional else 0)
        return (torch.zeros(n, channels, out, out),)


TASKS.register("unconditional", UnconditionalTask)
TASKS.register("paired", PairedTask)


def build_task(cfg: Config, dataset: ImageDataset | None = None) -> Task:
    return TASKS.get(cfg.task)(cfg, dataset)
