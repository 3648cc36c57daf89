"""Experience replay (seed 004; Shrivastava et al. 2017, the image pool of pix2pix and CycleGAN): D also
sees fakes of earlier steps, so that a generator cannot escape it by jumping from mode to mode.

A ring buffer keeps the last `train.replay_size` fakes (with their condition, for a conditional D). Each fake
of D's batch is swapped with probability `train.replay_prob` for a kept one drawn at random; then the
step's fresh fakes enter the buffer. The buffer is a state component: a resumed run replays the same.
"""

from __future__ import annotations

from typing import Any

import torch

from ..errors import UserError


class ReplayBuffer:
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
        """The (condition, fakes) D judges: the step's own, each swapped for a kept pair at `prob`."""
        fake = fake.detach()
        n, device = fake.shape[0], fake.device
        paired = isinstance(cond, torch.Tensor)
        if self.fakes is None:
            self.fakes = fake.new_zeros(self.size, *fake.shape[1:])
            self.conds = cond.new_zeros(self.size, *cond.shape[1:]) if paired else None
        elif self.fakes.device != device:  # restored from a checkpoint, on the CPU
            self.fakes = self.fakes.to(device)
            self.conds = self.conds.to(device) if self.conds is not None else None
        shown_fake, shown_cond = fake, cond
        if self.count:
            swap = torch.rand(n, device=device) < self.prob
            pick = torch.randint(0, min(self.count, self.size), (n,), device=device)
            mask = swap.view(n, *([1] * (fake.dim() - 1)))
            shown_fake = torch.where(mask, self.fakes[pick], fake)
            if paired:
                shown_cond = torch.where(swap.view(n, *([1] * (cond.dim() - 1))), self.conds[pick], cond)
        slots = (self.count + torch.arange(n, device=device)) % self.size
        self.fakes[slots] = fake
        if paired:
            self.conds[slots] = cond.detach()
        self.count += n
        return shown_cond, shown_fake

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
