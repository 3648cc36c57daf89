"""TensorBoard as the run's viewer (`train.logger=tensorboard`, `--logger tensorboard`): every metrics line
as scalars, the sample grids as images, health events as text, in RUN_DIR/tensorboard/. The run's own
files (metrics.jsonl, samples/, events.jsonl) are written as always; this is a second view of them
(train/trackers.py).
"""

from __future__ import annotations

import numpy as np

from ..errors import UserError
from .hooks import HOOKS, TrainerView
from .trackers import Tracker, wants


class TensorBoardLogger(Tracker):
    name = "tensorboard"

    def __init__(self, trainer: TrainerView):
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise UserError(
                "train.logger=tensorboard needs the tensorboard package: pip install tensorboard "
                "(or pip install 'ganforge[tensorboard]')"
            ) from None
        super().__init__(trainer)
        self._writer_class = SummaryWriter
        self.writer = None

    def open(self) -> None:
        # a resumed run writes again what came after its checkpoint: TensorBoard drops the old records
        purge = None if self.resumed_at is None else self.resumed_at + 1
        self.writer = self._writer_class(log_dir=str(self.trainer.layout.tensorboard), purge_step=purge)

    def scalars(self, step: int, values: dict[str, float]) -> None:
        for tag, value in values.items():
            self.writer.add_scalar(tag, value, step)

    def image(self, step: int, grid: np.ndarray) -> None:
        self.writer.add_image("samples", grid, step, dataformats="HWC")

    def text(self, step: int, lines: list[tuple[int, str]]) -> None:
        for at, line in lines:  # each at the step it names (TensorBoard takes steps in any order)
            self.writer.add_text("events", line, at)

    def flush(self) -> None:
        self.writer.flush()

    def finish(self, complete: bool) -> None:
        self.writer.close()


HOOKS.register(
    "tensorboard", lambda t: TensorBoardLogger(t) if wants(t.cfg, "tensorboard") and t.world.is_main else None
)
