"""An exponential moving average of G's weights (StyleGAN2-ADA's G_ema), as a hook.

`train.ema` is the half-life in images: after each G step, G_ema = G + beta (G_ema - G) with
beta = 0.5 ** (batch_size / half_life), so an image's worth of training fades to half after `train.ema`
more images. Early on the half-life is at most `train.ema_rampup` times the images seen, so that the
average soon forgets the random start. Buffers (BatchNorm's running statistics) are copied from G. The
copy is saved as `g_ema` and, when on, is what the sample grids, `sample`, `translate` and `evaluate` run.
"""

from __future__ import annotations

import copy

import torch

from .hooks import HOOKS, Hook, TrainerView
from .objective import Phase
from .state import unwrap


class EMA(Hook):
    """Keeps `g_ema` (see the module doc); `beta(images_seen)` is the weight of the past at a step."""

    def __init__(self, trainer: TrainerView):
        self.trainer, self.g = trainer, unwrap(trainer.g)
        self.ema = copy.deepcopy(self.g).requires_grad_(False)
        self.ema._compiled_call_impl = None  # a compiled G's copy would call G's compiled forward: run its own
        # the step's weight of G, set before the step on the device: a CUDA graph's lerp reads it there
        self.weight = torch.zeros((), device=next(self.g.parameters()).device)

    def beta(self, images_seen: int) -> float:
        t = self.trainer.cfg.train
        half_life = min(t.ema, images_seen * t.ema_rampup) if t.ema_rampup > 0 else t.ema
        return 0.5 ** (t.batch_size / max(half_life, 1e-8))

    def before_step(self, step: int) -> None:
        self.weight.fill_(1.0 - self.beta((step + 1) * self.trainer.cfg.train.batch_size))

    @torch.no_grad()
    def after_phase(self, phase: Phase) -> None:
        if phase.net != "g":
            return
        for averaged, current in zip(self.ema.parameters(), self.g.parameters(), strict=True):
            averaged.lerp_(current, self.weight)
        for averaged, current in zip(self.ema.buffers(), self.g.buffers(), strict=True):
            averaged.copy_(current)

    def networks(self) -> dict[str, torch.nn.Module]:
        return {"g_ema": self.ema}


HOOKS.register("ema", lambda trainer: EMA(trainer) if trainer.cfg.train.ema > 0 else None)
