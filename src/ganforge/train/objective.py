"""The GAN objective: the phases of a training step and the loss of each (seed 004's two phases).

Phase D: the discriminator learns reals from an equal batch of fakes; with `train.d_steps` above 1 it
runs several times a step, on a fresh batch each time. Phase G: the generator learns to make fresh fakes
that the discriminator, frozen, calls real. A penalty with an interval (losses.PENALTIES) adds a lazy phase
of its own. The loop (loop.py) runs the phases and steps the optimiser of each phase's network; it knows
nothing of losses. Losses come from registries: a new adversarial loss, reconstruction term or penalty is a
registry entry, not an edit here.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any

import torch
from torch import nn

from ..config import Config
from ..errors import UserError
from ..losses import Penalty, build_adversarial_loss, build_penalties, reconstruction_weights
from .d_inputs import DInputs
from .replay import replay_buffer
from .runtime import uncompiled
from .state import unwrap
from .tasks import Task

Metrics = dict[str, torch.Tensor]


@dataclass(frozen=True)
class Phase:
    """A part of a training step: the network it trains ("d" or "g"), every how many steps it runs, how
    many times in a step it runs (each run after the first on a fresh batch), and the networks its loss
    goes through without training them (frozen, so that no gradient is computed for their weights)."""

    name: str
    net: str
    interval: int = 1
    repeats: int = 1
    frozen: tuple[str, ...] = ()


def mode_seeking_ratio(fake: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """How far apart G puts two images of one class, for how far apart their noise is: the mean absolute
    difference of images i and i + n/2 over that of their noise vectors (MSGAN, Mao et al. CVPR 2019). G
    adds weight / ratio to its loss, so that a class's images cannot all be one."""
    half = len(z) // 2
    images = (fake[:half].float() - fake[half : 2 * half].float()).abs().mean()
    return images / (z[:half] - z[half : 2 * half]).abs().mean()


def phases_of(cfg: Config) -> list[Phase]:
    """The phases of a step: D (repeated as the loss or `train.d_steps` asks), each lazy penalty's D phase
    at its interval, then G with D frozen. Without an adversarial term (`loss.gan_weight=0`: SRResNet, a
    PSNR-oriented model) G's phase alone, on its reconstruction terms."""
    if cfg.loss.gan_weight == 0:
        if not reconstruction_weights(cfg):
            raise UserError("loss.gan_weight=0 and no reconstruction loss is weighted: nothing to train; set one")
        return [Phase("G", "g")]
    lazy = [p for p in build_penalties(cfg) if p.interval > 1]
    return [
        Phase("D", "d", repeats=cfg.train.d_steps or build_adversarial_loss(cfg).d_steps),
        *(Phase(f"D_{p.name}", "d", interval=p.interval) for p in lazy),
        Phase("G", "g", frozen=("d",)),
    ]


class GANObjective:
    """The phases of a step and their losses, composed from the registries by the config."""

    def __init__(self, cfg: Config, task: Task, g: nn.Module, d: nn.Module) -> None:
        self.cfg, self.task, self.g, self.d = cfg, task, g, d
        self.loss = build_adversarial_loss(cfg)
        device = next(d.parameters()).device
        self.d_inputs = DInputs(cfg, device, self.loss.midpoint)
        self.replay = replay_buffer(cfg)
        penalties = build_penalties(cfg)
        self.penalties = [p for p in penalties if p.interval == 1]
        self.lazy = {f"D_{p.name}": p for p in penalties if p.interval > 1}
        self.penalty_scale = torch.ones((), device=device)  # the ramp of R1/R2's gamma (schedules.py)
        self.phases = phases_of(cfg)
        self._fake_for_g: torch.Tensor | None = None
        self._noise_for_g: torch.Tensor | None = None
        # a conditional G's mode-seeking weight (Mao et al. 2019): its fakes come in pairs of one class
        self.mode_seeking = cfg.loss.mode_seeking if cfg.conditional else 0.0

    def use(self, g: nn.Module, d: nn.Module) -> None:
        """The modules the next phase calls (the runtime's: wrapped for several processes, or plain)."""
        self.g, self.d = g, d

    def notes(self) -> list[str]:
        """Warnings for the run's log about combinations that work less well than they could."""
        norms = sum(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in self.d.modules())
        if self.cfg.loss.gan == "wgan-gp" and norms:
            return [
                f"note: wgan-gp's gradient penalty assumes a D without batch normalisation, and this D has {norms} "
                "BatchNorm layers; the penalty then mixes the images of a batch (Gulrajani et al. use layer norm)"
            ]
        return []

    @property
    def chance(self) -> float | None:
        """The losses' value when D cannot tell reals from fakes, if the loss has one (log 2 for bce)."""
        return self.loss.chance

    @property
    def batches_per_step(self) -> int:
        return 1 + sum(p.repeats - 1 for p in self.phases if p.interval == 1)

    def lazy_ratio(self, net: str) -> float:
        """Main steps over all optimiser steps of `net`: lazy phases add steps, so its learning rate and
        momenta are scaled by this, as StyleGAN2 does (k / (k + 1) for one lazy phase every k steps)."""
        return 1.0 / (1.0 + sum(1.0 / p.interval for p in self.phases if p.net == net and p.interval > 1))

    def components(self) -> dict[str, Any]:
        """State components of the objective's own parts: the replay buffer, adaptive augmentation."""
        parts = {"replay": self.replay, "ada": self.d_inputs.ada}
        return {name: part for name, part in parts.items() if part is not None}

    def set_step(self, step: int, total_steps: int) -> None:
        """The values of the step about to run, set before it (outside a CUDA graph that replays it)."""
        self.d_inputs.set_step(step, total_steps)

    def graph_ready(self) -> bool:
        """Whether the step does the same from now on, so that it may be captured: a replay buffer that is
        still filling is not there yet."""
        return self.replay is None or self.replay.full

    def prepare(self, batch: Any) -> tuple[Any, torch.Tensor]:
        """(condition, real images) of a batch from the data, shared by the phases that use it."""
        return self.task.split(batch)

    def discriminate(self, cond: Any, images: torch.Tensor) -> torch.Tensor:
        """D's outputs for images (with their condition), through DiffAugment and instance noise."""
        return self.task.discriminate(lambda x, *labels: self.d(self.d_inputs(x), *labels), cond, images)

    def __call__(self, phase: Phase, inputs: tuple[Any, torch.Tensor]) -> tuple[torch.Tensor, Metrics]:
        """The loss to minimise in `phase` and the metrics to log (detached)."""
        if phase.name == "D":
            loss, metrics = self.discriminator_loss(*inputs)
        elif phase.name == "G":
            loss, metrics = self.generator_loss(*inputs)
        else:
            loss, metrics = self.lazy_penalty(self.lazy[phase.name], *inputs)
        return loss, {k: v.detach() for k, v in metrics.items()}

    def _fakes(self, cond: Any, real: torch.Tensor) -> torch.Tensor:
        return self.task.generate(self.g, cond, real.shape[0], real.device)

    def discriminator_loss(self, cond: Any, real: torch.Tensor) -> tuple[torch.Tensor, Metrics]:
        """D's loss on the batch's fakes, detached; the fakes, with G's graph, serve G's phase of the step
        too (one forward of G a step, as the reference loops do)."""
        fake = self._fakes(cond, real)
        self._fake_for_g = fake if fake.requires_grad else None
        self._noise_for_g = self.task.last_noise
        fake = fake.detach()
        shown_cond, shown_fake = self.replay(cond, fake) if self.replay is not None else (cond, fake)
        real_out = self.discriminate(cond, real)
        fake_out = self.discriminate(shown_cond, shown_fake)
        metrics = self.loss.d_loss(real_out, fake_out) | self.d_inputs.observe(real_out)
        loss = metrics["d_loss"]
        for p in self.penalties:
            value = self._penalty(p, cond, real, fake)
            metrics[f"d_{p.name}"] = value
            loss = loss + p.weight * self.penalty_scale * value
        return loss, metrics | self._outputs(real_out, fake_out)

    def generator_loss(self, cond: Any, real: torch.Tensor) -> tuple[torch.Tensor, Metrics]:
        fake, self._fake_for_g = self._fake_for_g, None
        z = self._noise_for_g
        if fake is None or fake.shape[0] != real.shape[0]:
            fake = self._fakes(cond, real)
            z = self.task.last_noise
        recon = self.task.reconstruction_losses(fake, real)
        total, metrics = fake.new_zeros(()), {}
        if self.cfg.loss.gan_weight:
            real_out = self.discriminate(cond, real) if self.loss.g_needs_real else None
            g_gan = self.loss.g_loss(self.discriminate(cond, fake), real_out)
            total = g_gan if self.cfg.loss.gan_weight == 1 else self.cfg.loss.gan_weight * g_gan
            metrics["g_gan"] = g_gan
        for k, v in recon.items():
            total = total + self.task.weights[k] * v
        metrics |= {f"g_{k}": v for k, v in recon.items()}
        if self.mode_seeking and z is not None and len(z) >= 2:
            ratio = mode_seeking_ratio(fake, z)
            total = total + self.mode_seeking / (ratio + 1e-5)
            metrics["g_mode_seeking"] = ratio
        return total, {"g_loss": total} | metrics

    def lazy_penalty(self, p: Penalty, cond: Any, real: torch.Tensor) -> tuple[torch.Tensor, Metrics]:
        fake = self._fakes(cond, real).detach() if p.uses_fakes else None
        value = self._penalty(p, cond, real, fake)
        return p.weight * self.penalty_scale * p.interval * value, {f"d_{p.name}": value}

    def _penalty(self, p: Penalty, cond: Any, real: torch.Tensor, fake: torch.Tensor | None) -> torch.Tensor:
        """A gradient penalty's value, through D's eager forward (see runtime.uncompiled)."""
        with uncompiled(unwrap(self.d)):
            return p.fn(partial(self.discriminate, cond), real, fake)

    def _outputs(self, real_out: torch.Tensor, fake_out: torch.Tensor) -> Metrics:
        """D's mean output on reals and fakes: probabilities D(x), D(G(z)) for a logistic loss, raw scores
        otherwise (a probability means nothing to a hinge or least-squares D)."""
        real_out, fake_out = real_out.detach().float(), fake_out.detach().float()
        if self.loss.logistic:
            return {"D_x": torch.sigmoid(real_out).mean(), "D_G_z": torch.sigmoid(fake_out).mean()}
        return {"D_real": real_out.mean(), "D_fake": fake_out.mean()}
