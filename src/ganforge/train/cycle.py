"""CycleGAN's objective (Zhu et al. 2017) on the engine's phases, for unpaired translation: the same loop,
the same phase mechanism as GANObjective, with the generators and the discriminators each held as one
network (models/cyclegan.py: `g.ab`, `g.ba`; `d.a`, `d.b`).

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

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..config import Config
from ..losses import build_adversarial_loss
from .d_inputs import DInputs
from .objective import Metrics, Phase
from .replay import ReplayBuffer
from .state import unwrap
from .tasks import Task

SIDES = ("a", "b")


class CycleObjective:
    """D's phase, then G's (see the module doc); the interface of GANObjective."""

    def __init__(self, cfg: Config, task: Task, g: nn.Module, d: nn.Module) -> None:
        self.cfg, self.task, self.g, self.d = cfg, task, g, d
        self.loss = build_adversarial_loss(cfg)
        device = next(d.parameters()).device
        self.d_inputs = DInputs(cfg, device)
        t = cfg.train
        self.pools = (
            {side: ReplayBuffer(t.replay_size, t.replay_prob, t.batch_size) for side in SIDES} if t.replay_size else {}
        )
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
        return {f"pool_{side}": pool for side, pool in self.pools.items()}

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

    def _makers(self) -> dict[str, nn.Module]:
        """The generator that makes each side's images: "b" from A (`ab`), "a" from B (`ba`)."""
        g = unwrap(self.g)
        return {"a": g.ba, "b": g.ab}

    def _judges(self) -> dict[str, nn.Module]:
        d = unwrap(self.d)
        return {"a": d.a, "b": d.b}

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
