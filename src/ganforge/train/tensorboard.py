"""TensorBoard as the run's viewer (`train.logger=tensorboard`, `--logger tensorboard`): every metrics line
as scalars, the sample grids as images, health events as text, in RUN_DIR/tensorboard/. The run's own
files (metrics.jsonl, samples/, events.jsonl) are written as always; this is a second view of them.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ..errors import UserError
from ..jsonio import read_lines
from ..report.grid import image_grid
from .hooks import HOOKS, Hook, TrainerView

NOT_SCALARS = ("step", "epoch")


class TensorBoardLogger(Hook):
    def __init__(self, trainer: TrainerView):
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise UserError(
                "train.logger=tensorboard needs the tensorboard package: pip install tensorboard "
                "(or pip install 'ganforge[tensorboard]')"
            ) from None
        self.trainer, self._writer_class = trainer, SummaryWriter
        self._writer = None
        self.events_seen = 0
        self.resumed_at: int | None = None

    @property
    def writer(self):
        """Opened at the first line, once the run directory exists (a run that fails to start leaves none)."""
        if self._writer is None:
            # a resumed run writes again what came after its checkpoint: TensorBoard drops the old records
            purge = None if self.resumed_at is None else self.resumed_at + 1
            self._writer = self._writer_class(log_dir=str(self.trainer.layout.tensorboard), purge_step=purge)
        return self._writer

    def after_samples(self, step: int, images: torch.Tensor, nrow: int) -> None:
        """The grid the run just saved (not made again)."""
        if bool(torch.isfinite(images).all()):
            grid = np.asarray(image_grid(images, nrow).convert("RGB"))
            self.writer.add_image("samples", grid, step, dataformats="HWC")
            self.writer.flush()

    def after_log(self, step: int, row: dict[str, Any] | None) -> None:
        if not row:
            return
        for key, value in row.items():
            if key not in NOT_SCALARS and isinstance(value, (int, float)):
                self.writer.add_scalar(_tag(key), value, step)
        events = read_lines(self.trainer.layout.events, key="step")
        for e in events[self.events_seen :]:
            self.writer.add_text("events", f"step {e['step']} [{e.get('kind')}] {e.get('message')}", e["step"])
        self.events_seen = max(self.events_seen, len(events))
        self.writer.flush()

    def on_stop(self, stop: Any) -> None:
        if self._writer is not None:
            self._writer.add_text("events", f"stopped: {stop.message}", self.trainer.progress.step)
            self._writer.flush()

    def state_dict(self) -> dict:
        return {"events_seen": self.events_seen, "step": self.trainer.progress.step}

    def load_state_dict(self, state: dict) -> None:
        self.events_seen, self.resumed_at = int(state["events_seen"]), int(state["step"])


def _tag(key: str) -> str:
    """Scalars grouped as TensorBoard shows them: losses, D's outputs, gradients, evaluation, speed."""
    if key.startswith("eval_"):
        return f"eval/{key[5:]}"
    if key.startswith("grad_norm_"):
        return f"gradients/{key}"
    if key.startswith(("D_", "d_acc")):
        return f"discriminator/{key}"
    if key.startswith(("d_", "g_")):
        return f"loss/{key}"
    if key in ("diversity", "ndb", "mode_imbalance", "mode_excess"):
        return f"health/{key}"
    return f"misc/{key}"


HOOKS.register(
    "tensorboard", lambda t: TensorBoardLogger(t) if t.cfg.train.logger == "tensorboard" and t.world.is_main else None
)
