"""The super-resolution task: G enlarges a low-resolution image by `model.scale`; D judges images alone.

A batch is high-resolution patches; their low-resolution inputs are made on the fly, on the batch's device,
by antialiased bicubic downscaling (`model.inputs=bicubic`, the classic SR benchmark's inputs) or by
Real-ESRGAN's two rounds of blur, resize, noise and JPEG (`realworld`, for photographs as cameras and the
web degrade them). A data set of explicit (low, high) pairs gives both. Each patch is first turned by one
of the square's eight symmetries (flips and transposition), as SR training does, drawn from the global
random stream so that a resumed run draws the same.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ..config import Config
from ..data import held_out_pairs
from ..data.base import ImageDataset
from ..data.lowres import bicubic_up
from ..data.realworld import low_resolution_inputs
from ..losses import reconstruction_weights
from ..models.contract import InferenceContract
from ..registry import TASKS
from .tasks import Task


def symmetries(*images: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Each image of the batch flipped and transposed by a random one of the square's eight symmetries,
    the same one for every tensor given (an input and its target)."""
    first = images[0]
    n = first.shape[0]
    draws = torch.randint(0, 2, (3, n, 1, 1, 1), device=first.device).bool()
    out = []
    for x in images:
        x = torch.where(draws[0], x.flip(-1), x)
        x = torch.where(draws[1], x.flip(-2), x)
        if x.shape[-1] == x.shape[-2]:
            x = torch.where(draws[2], x.transpose(-1, -2), x)
        out.append(x)
    return tuple(out)


class UpscaleTask(Task):
    """(low-resolution input, high-resolution target) from a batch; the sample grid: rows of bicubic
    enlargement | G's output | target."""

    def __init__(self, cfg: Config, dataset: ImageDataset | None = None):
        super().__init__(cfg, dataset)
        self.scale = cfg.model.scale
        self.weights = reconstruction_weights(cfg)
        self.inputs_for = low_resolution_inputs(cfg)  # HR images -> their low-resolution inputs
        self.augment = dataset is None or dataset.jitter_ok

    def split(self, batch: Any) -> tuple[torch.Tensor, torch.Tensor]:
        if isinstance(batch, (list, tuple)):  # explicit (low, high) pairs
            low, high = batch
            return symmetries(low, high) if self.augment else (low, high)
        high = symmetries(batch)[0] if self.augment else batch
        return self.inputs_for(high), high

    def generate(self, g: nn.Module, cond: torch.Tensor, n: int, device: torch.device) -> torch.Tensor:
        return g(cond)

    def discriminate(self, d: Any, cond: torch.Tensor, images: torch.Tensor) -> torch.Tensor:
        return d(images)

    def fixed_inputs(self) -> list[torch.Tensor]:
        """Held-out patches spread over the data (val, else test, else training) and their inputs, made
        from a fixed seed so that every grid of the run shows the same."""
        held_out, _ = held_out_pairs(self.cfg, ("val", "test", "train"))
        n = min(self.cfg.train.grid_size, 8, len(held_out))
        picks = torch.linspace(0, len(held_out) - 1, n).round().long().tolist()
        items = [held_out[i] for i in picks]
        if isinstance(items[0], (list, tuple)):
            return [torch.stack([x[0] for x in items]), torch.stack([x[1] for x in items])]
        high = torch.stack(items)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.cfg.train.seed)
            return [self.inputs_for(high), high]

    def sample_grid(
        self, g: nn.Module, contract: InferenceContract, fixed: list[torch.Tensor]
    ) -> tuple[torch.Tensor, int]:
        low, high = fixed
        out = contract.run(g, low).cpu()
        return torch.stack([bicubic_up(low, self.scale).float(), out, high.float()], dim=1).flatten(0, 1), 3

    @staticmethod
    def example_inputs(cfg: Config, which: str, n: int = 2) -> tuple[torch.Tensor, ...]:
        s, c = cfg.data.image_size, cfg.data.channels
        if which == "g":
            return (torch.zeros(n, c, s // cfg.model.scale, s // cfg.model.scale),)
        return (torch.zeros(n, c, s, s),)


TASKS.register("upscale", UpscaleTask)
