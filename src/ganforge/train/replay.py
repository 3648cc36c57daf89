"""Experience replay (seed 004; Shrivastava et al. 2017, the image pool of pix2pix and CycleGAN): D also
sees fakes of earlier steps, so that a generator cannot escape it by jumping from mode to mode.

The buffer keeps `train.replay_size` fakes (with their condition, for a conditional D). Until it is full,
the step's fakes enter it and D sees them; then each fake, with probability `train.replay_prob`, trades
places with a kept one drawn at random: D sees the old fake and the new one is kept. Old fakes thus leave
the buffer gradually (a kept fake survives a step with probability 1 - batch * prob / size), so D
remembers modes G has left for a while. The buffer is a state component: a resumed run replays the same.
"""

from __future__ import annotations

from typing import Any

import torch

from ..config import Config
from ..errors import UserError


def replay_buffer(cfg: Config) -> ReplayBuffer | None:
    """The run's buffer as `train.replay_*` say, or None where `train.replay_size` is 0 (no replay)."""
    t = cfg.train
    return ReplayBuffer(t.replay_size, t.replay_prob, t.batch_size) if t.replay_size else None


class ReplayBuffer:
    """A pool of earlier (condition, fake) pairs that D's fake batches draw from."""

    def __init__(self, size: int, prob: float, batch_size: int):
        if size < batch_size or not 0 <= prob <= 1:
            raise UserError(
                f"train.replay_size={size} must hold at least a batch ({batch_size}) and "
                f"train.replay_prob={prob} must be in [0, 1]"
            )
        self.size, self.prob = size, prob
        self.fakes: torch.Tensor | None = None
        self.conds: torch.Tensor | None = None
        self.count = 0

    def __call__(self, cond: Any, fake: torch.Tensor) -> tuple[Any, torch.Tensor]:
        """The (condition, fakes) D judges in place of the step's own."""
        fake = fake.detach()
        n, device = fake.shape[0], fake.device
        paired = isinstance(cond, torch.Tensor)
        if self.fakes is None:
            self.fakes = fake.new_zeros(self.size, *fake.shape[1:])
            self.conds = cond.new_zeros(self.size, *cond.shape[1:]) if paired else None
        elif self.fakes.device != device:  # restored from a checkpoint, on the CPU
            self.fakes = self.fakes.to(device)
            self.conds = self.conds.to(device) if self.conds is not None else None
        shown_fake, shown_cond = fake.clone(), cond.detach().clone() if paired else cond
        filling = min(n, self.size - self.count)
        if filling:  # the buffer fills first: these fakes are kept and shown as they are
            self.fakes[self.count : self.count + filling] = fake[:filling]
            if paired:
                self.conds[self.count : self.count + filling] = cond[:filling].detach()
            self.count += filling
        if filling < n:  # the rest trade places with kept fakes: shapes that do not depend on the draws
            k = n - filling
            swap = torch.rand(k, device=device) < self.prob
            slots = torch.rand(self.size, device=device).argsort()[:k]  # distinct places, drawn at random
            shown_fake[filling:] = self._trade(self.fakes, slots, swap, fake[filling:])
            if paired:
                shown_cond[filling:] = self._trade(self.conds, slots, swap, cond[filling:].detach())
        return shown_cond, shown_fake

    @property
    def full(self) -> bool:
        """From here on every call does the same (a CUDA graph may replay it)."""
        return self.count >= self.size

    @staticmethod
    def _trade(kept: torch.Tensor, slots: torch.Tensor, swap: torch.Tensor, new: torch.Tensor) -> torch.Tensor:
        """Where `swap`, the new item takes the place of the kept one at its slot, which is returned to be
        shown; elsewhere the new item is shown and the kept one stays."""
        old = kept[slots]
        chosen = swap.view(-1, *[1] * (new.dim() - 1))
        kept[slots] = torch.where(chosen, new, old)
        return torch.where(chosen, old, new)

    def state_dict(self) -> dict:
        state: dict[str, Any] = {"count": self.count}
        if self.fakes is not None:
            state["fakes"] = self.fakes.cpu()
        if self.conds is not None:
            state["conds"] = self.conds.cpu()
        return state

    def load_state_dict(self, state: dict) -> None:
        self.count = int(state["count"])
        self.fakes, self.conds = state.get("fakes"), state.get("conds")
