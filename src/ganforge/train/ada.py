"""Adaptive discriminator augmentation (Karras et al. 2020, "Training generative adversarial networks with
limited data"): the chance p that each augmentation changes an image D sees is steered by D's overfitting.

D's outputs on reals are read as r_t = E[sign(D(real) - m)], where m is the loss's decision midpoint (0
for logits, 1/2 for least squares): 0 when D cannot tell reals from fakes, 1 when it is sure of every real
(on a small data set, because it has learned them by heart). Every `data.ada_every` steps p moves by
sign(r_t - `data.ada_target`) x the images of those steps / `data.ada_images`, within [0, 1]: it rises
while D overfits and falls when it no longer does.

Everything stays on the run's device, written in place (no read back to the host, so a step replayed as a
CUDA graph keeps it); p, the sums of the open interval and the last r_t are the run's state.
"""

from __future__ import annotations

import torch

from ..config import Config


class AdaptiveAugment:
    def __init__(self, cfg: Config, p: torch.Tensor, midpoint: float = 0.0):
        d = cfg.data
        self.p, self.target, self.every, self.midpoint = p, d.ada_target, d.ada_every, midpoint
        self.step_size = cfg.train.batch_size * d.ada_every / d.ada_images  # p's move at each adjustment
        self.signs = torch.zeros((), device=p.device)  # sum over the interval of each batch's mean sign
        self.batches = torch.zeros((), device=p.device)
        self.rt = torch.zeros((), device=p.device)  # the last interval's r_t, for the metrics

    def observe(self, real_out: torch.Tensor) -> None:
        """D's outputs on a batch of reals, in D's phase."""
        self.signs.add_((real_out.detach().float() - self.midpoint).sign().mean())
        self.batches.add_(1)

    def before_step(self, step: int) -> None:
        """At every `every`-th step, move p by the interval's r_t and start a new interval."""
        if step == 0 or step % self.every:
            return
        self.rt.copy_(self.signs / self.batches.clamp(min=1))
        self.p.add_(torch.sign(self.rt - self.target) * self.step_size).clamp_(0, 1)
        self.signs.zero_()
        self.batches.zero_()

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {
            "p": self.p.clone(),
            "signs": self.signs.clone(),
            "batches": self.batches.clone(),
            "rt": self.rt.clone(),
        }

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        for name in ("p", "signs", "batches", "rt"):
            getattr(self, name).copy_(state[name])
