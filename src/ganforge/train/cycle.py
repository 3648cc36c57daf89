"""CycleGAN's objective (Zhu et al. 2017) on the engine's phases, for unpaired translation: the same loop,
the same phase mechanism as GANObjective, with the generators and the discriminators each held as one
network (models/cyclegan.py: `g.ab`, `g.ba`; `d.a`, `d.b`), each called through the network as the
phases hold it (`g(x, "ba")`), so that DistributedDataParallel averages both pairs' gradients.

- D: each discriminator judges the real images of its side against the fakes of its side, drawn from its
  own image pool (replay.py: 50 fakes, a chance of 1/2 to show an older one); each D's loss is the adversarial
  loss's (lsgan: half the squared error on reals and fakes); the two are summed (their weights are apart).
- G: the adversarial terms of both directions, cycle consistency both ways, `loss.cycle` x
  (L1(ba(ab(a)), a) + L1(ab(ba(b)), b)), and the identity terms, `loss.cycle` x `loss.identity` x
  (L1(ab(b), b) + L1(ba(a), a)).

The fakes of a step are made once, in D's phase, and serve G's. Logged: `d_loss` and `g_gan` are the means
over the two sides (so a loss's chance line stays where it is), `g_loss` what G minimises, and each term.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..config import Config
from ..data import held_out_pairs
from ..data.augment import random_jitter
from ..data.base import ImageDataset
from ..losses import build_adversarial_loss
from ..models.contract import InferenceContract
from ..registry import TASKS
from .d_inputs import DInputs
from .objective import Metrics, Phase
from .replay import replay_buffer
from .state import unwrap
from .tasks import Task

SIDES = ("a", "b")


class CycleObjective:
    """D's phase, then G's (see the module doc); the interface of GANObjective."""

    def __init__(self, cfg: Config, task: Task, g: nn.Module, d: nn.Module) -> None:
        self.cfg, self.task, self.g, self.d = cfg, task, g, d
        self.loss = build_adversarial_loss(cfg)
        device = next(d.parameters()).device
        self.d_inputs = DInputs(cfg, device, self.loss.midpoint)
        self.pools = {side: pool for side in SIDES if (pool := replay_buffer(cfg)) is not None}  # one per D
        self.penalty_scale = torch.ones((), device=device)  # the schedules write it; CycleGAN has no penalty
        self.phases = [Phase("D", "d"), Phase("G", "g", frozen=("d",))]
        self._fakes: dict[str, torch.Tensor] | None = None

    chance = property(lambda self: self.loss.chance)
    batches_per_step = 1

    def lazy_ratio(self, net: str) -> float:
        return 1.0

    def use(self, g: nn.Module, d: nn.Module) -> None:
        self.g, self.d = g, d

    def notes(self) -> list[str]:
        return []

    def components(self) -> dict[str, Any]:
        parts = {f"pool_{side}": pool for side, pool in self.pools.items()}
        return parts | ({"ada": self.d_inputs.ada} if self.d_inputs.ada is not None else {})

    def set_step(self, step: int, total_steps: int) -> None:
        self.d_inputs.set_step(step, total_steps)

    def graph_ready(self) -> bool:
        return all(pool.full for pool in self.pools.values())

    def prepare(self, batch: Any) -> tuple[torch.Tensor, torch.Tensor]:
        """(real A, real B) of a batch from the data."""
        return self.task.split(batch)

    def __call__(self, phase: Phase, inputs: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, Metrics]:
        loss, metrics = (self.discriminator_loss if phase.name == "D" else self.generator_loss)(*inputs)
        return loss, {k: v.detach() for k, v in metrics.items()}

    def _makers(self) -> dict[str, Callable[[torch.Tensor], torch.Tensor]]:
        """The generator that makes each side's images: "b" from A (`ab`), "a" from B (`ba`)."""
        return {"a": lambda x: self.g(x, "ba"), "b": lambda x: self.g(x, "ab")}

    def _judges(self) -> dict[str, Callable[[torch.Tensor], torch.Tensor]]:
        return {side: lambda x, side=side: self.d(x, side) for side in SIDES}

    def discriminator_loss(self, real_a: torch.Tensor, real_b: torch.Tensor) -> tuple[torch.Tensor, Metrics]:
        to = self._makers()
        fakes = {"b": to["b"](real_a), "a": to["a"](real_b)}
        self._fakes = fakes if fakes["a"].requires_grad else None
        reals, judges = {"a": real_a, "b": real_b}, self._judges()
        total, metrics = 0, {}
        for side in SIDES:
            fake = fakes[side].detach()
            shown = self.pools[side](None, fake)[1] if self.pools else fake
            real_out = judges[side](self.d_inputs(reals[side]))
            fake_out = judges[side](self.d_inputs(shown))
            parts = self.loss.d_loss(real_out, fake_out)
            metrics |= self.d_inputs.observe(real_out)
            total = total + parts["d_loss"]
            metrics[f"d_loss_{side}"] = parts["d_loss"]
            metrics[f"D_real_{side}"], metrics[f"D_fake_{side}"] = real_out.float().mean(), fake_out.float().mean()
        metrics["d_loss"] = total / 2
        return total, metrics

    def generator_loss(self, real_a: torch.Tensor, real_b: torch.Tensor) -> tuple[torch.Tensor, Metrics]:
        to, judges = self._makers(), self._judges()
        fakes, self._fakes = self._fakes, None
        if fakes is None:  # G's phase alone (a step that D skipped)
            fakes = {"b": to["b"](real_a), "a": to["a"](real_b)}
        reals = {"a": real_a, "b": real_b}
        other = {"a": "b", "b": "a"}
        gan = sum(self.loss.g_loss(judges[side](self.d_inputs(fakes[side]))) for side in SIDES)
        # a's cycle: A -> fake B -> back to A
        cycle = sum(F.l1_loss(to[side](fakes[other[side]]).float(), reals[side].float()) for side in SIDES)
        total = gan + self.cfg.loss.cycle * cycle
        metrics = {"g_gan": gan / 2, "g_cycle": cycle / 2}
        if self.cfg.loss.identity:
            identity = sum(F.l1_loss(to[side](reals[side]).float(), reals[side].float()) for side in SIDES)
            total = total + self.cfg.loss.cycle * self.cfg.loss.identity * identity
            metrics["g_identity"] = identity / 2
        return total, {"g_loss": total, **metrics}


class UnpairedTask(Task):
    """Batches of (side A, side B) images that do not correspond; each side's jitter drawn alone. The grid:
    held-out images of each side, their translation and its way back."""

    def __init__(self, cfg: Config, dataset: ImageDataset | None = None):
        super().__init__(cfg, dataset)
        self.jitter = cfg.data.jitter and (dataset is None or dataset.jitter_ok)

    def split(self, batch: Any) -> tuple[torch.Tensor, torch.Tensor]:
        a, b = batch
        if self.jitter:
            size = self.cfg.data.image_size
            a, b = (random_jitter(x, x, size)[0] for x in (a, b))
        return a, b

    def fixed_inputs(self) -> list[torch.Tensor]:
        """The first held-out pairs' inputs (side A) and targets (side B), or the training sides' first."""
        held_out, _ = held_out_pairs(self.cfg, ("val", "test", "train"))
        n = min(self.cfg.train.grid_size, 8, len(held_out), getattr(held_out, "other_size", len(held_out)))
        items = [held_out[(i, i)] if getattr(held_out, "unpaired", False) else held_out[i] for i in range(n)]
        return [torch.stack([x[0] for x in items]), torch.stack([x[1] for x in items])]

    def sample_grid(
        self, g: nn.Module, contract: InferenceContract, fixed: list[torch.Tensor]
    ) -> tuple[torch.Tensor, int]:
        """Rows of real A | A->B | A->B->A, then real B | B->A | B->A->B."""
        g = unwrap(g)
        rows = []
        for real, there, back in ((fixed[0], g.ab, g.ba), (fixed[1], g.ba, g.ab)):
            real = real.to(next(g.parameters()).device)
            moved = contract.run(there, real)
            rows += [
                torch.stack([r, m, c]) for r, m, c in zip(real.float(), moved, contract.run(back, moved), strict=True)
            ]
        return torch.cat(rows), 3

    @staticmethod
    def example_inputs(cfg: Config, which: str, n: int = 2) -> tuple[torch.Tensor, ...]:
        s = cfg.data.image_size
        return (torch.zeros(n, cfg.data.channels, s, s),)


TASKS.register("unpaired", UnpairedTask)
