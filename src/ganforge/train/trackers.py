"""What every tracker of a run does (`train.logger`: tensorboard, wandb, mlflow; `--logger tensorboard,wandb`):
each metrics line as scalars, the sample grids as images, the health events as text and, when the run stops
early, why; a resumed run goes on in the same tracker run. A tracker is a second view of the run's own files
(metrics.jsonl, samples/, events.jsonl), which are written as always, and a subclass says only how its
tracker opens, takes scalars, an image and text, and finishes.

A tracker that cannot start stops the run at its first step (after the checkpoint of step 0, so that the run
goes on with --resume), with a one-line error; one that fails later is noted in the log and left off for the
rest of the run (the run's own files have everything).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ..config import Config
from ..errors import UserError
from ..jsonio import read_lines
from ..report.grid import image_grid
from .hooks import Hook, Stop, TrainerView
from .monitor import MACHINE_KEYS

NOT_SCALARS = ("step", "epoch")


def wants(cfg: Config, name: str) -> bool:
    """Whether `name` is one of the loggers of `train.logger` (a comma-separated list)."""
    return name in {x.strip() for x in cfg.train.logger.split(",")}


def event_line(event: dict[str, Any]) -> str:
    """A health event of events.jsonl as one line of text."""
    return f"step {event['step']} [{event.get('kind')}] {event.get('message')}"


class Tracker(Hook):
    """The base of the trackers. It opens the tracker before the first step it trains, and closes it when the
    run is over (`close`).

    Subclasses set `name` and implement `open`, `scalars`, `image`, `text` and `finish` (and `flush` if their
    client buffers). A tracker whose steps must only rise (`in_order`: wandb) gets each sample grid just before
    the scalars of its step: the loop saves a grid at once, while it reads metrics lines back a few steps late.
    """

    name = "tracker"
    in_order = False

    def __init__(self, trainer: TrainerView):
        self.trainer = trainer
        self.events_seen = 0  # events of events.jsonl sent
        self.resumed_at: int | None = None  # the step of the checkpoint a resumed run started from
        self.run_id: str | None = None  # the tracker's own id of the run (wandb's, mlflow's), kept in checkpoints
        self.status = "new"  # new, open, failed, closed
        self._images: list[tuple[int, np.ndarray]] = []  # in_order: grids waiting for the scalars of their step
        self._started_at: int | None = None  # the step training started from, until the first events are read

    # -- what a tracker implements ------------------------------------------------------------------------

    def open(self) -> str | None:
        """Start the tracker's run, or go on with `self.run_id` (a resumed run), and set `self.run_id`;
        returns a line for the run's log (where to find it), or None. Raises UserError if it cannot."""
        raise NotImplementedError

    def scalars(self, step: int, values: dict[str, float]) -> None:
        """Scalars of one metrics line, by tag (loss/d_loss, eval/fid, ...)."""
        raise NotImplementedError

    def image(self, step: int, grid: np.ndarray) -> None:
        """The sample grid of `step`, (H, W, 3) uint8."""
        raise NotImplementedError

    def text(self, step: int, lines: list[tuple[int, str]]) -> None:
        """Lines of text found at `step` (health events, each with the step it names; why the run stopped)."""
        raise NotImplementedError

    def flush(self) -> None:
        """After each batch of scalars, images and text."""

    def finish(self, complete: bool) -> None:
        """The run is over (`complete`: it reached its last step)."""

    # -- the hook -------------------------------------------------------------------------------------------

    def before_step(self, step: int) -> None:
        if self.status != "new":
            return
        try:
            line = self.open()
        except UserError as e:  # the checkpoint of step 0 is written
            raise UserError(f"{e}; then go on with: ganforge train --resume {self.trainer.run_dir}") from None
        self.status, self._started_at = "open", step
        if line:
            self.trainer.monitor.note(line)

    def after_log(self, step: int, row: dict[str, Any] | None) -> None:
        if not row or self.status != "open":
            return
        values = {
            tag(k): float(v)
            for k, v in row.items()
            if k not in NOT_SCALARS and isinstance(v, (int, float)) and not isinstance(v, bool)
        }
        self._send(self._line, step, values)

    def after_samples(self, step: int, images: torch.Tensor, nrow: int) -> None:
        """The grid the run just saved (not made again)."""
        if self.status != "open" or not bool(torch.isfinite(images).all()):
            return
        grid = np.asarray(image_grid(images, nrow).convert("RGB"))
        if self.in_order:
            self._images.append((step, grid))
        else:
            self._send(self._grid, step, grid)

    def on_stop(self, stop: Stop) -> None:
        if self.status == "open":
            step = self.trainer.progress.step
            self._send(self._stopped, step, stop)

    def close(self) -> None:
        """What is left (the events of the last line, grids waiting for their step), then the tracker's finish."""
        if self.status == "open":
            self._send(self._catch_up, self.trainer.progress.step)
        if self.status in ("open", "failed"):
            self.status = "closed"
            try:
                self.finish(self.trainer.progress.step >= self.trainer.total_steps)
            except Exception as e:  # the run is over: training's own outcome is what the caller sees
                self.trainer.monitor.note(f"{self.name}: could not finish the run ({first_line(e)})")

    def state_dict(self) -> dict:
        return {"events_seen": self.events_seen, "step": self.trainer.progress.step, "run_id": self.run_id}

    def load_state_dict(self, state: dict) -> None:
        self.events_seen, self.resumed_at = int(state["events_seen"]), int(state["step"])
        self.run_id = state.get("run_id") or self.run_id  # absent in the TensorBoard state of earlier versions

    # -- sending --------------------------------------------------------------------------------------------

    def _send(self, action: Any, *args: Any) -> None:
        try:
            action(*args)
        except Exception as e:  # a tracker is a second view: its failure does not stop training
            self.status = "failed"
            self.trainer.monitor.note(
                f"{self.name}: could not send to the tracker ({first_line(e)}); the run goes on without it, "
                "its own files have everything"
            )

    def _line(self, step: int, values: dict[str, float]) -> None:
        self._send_images(step)
        if values:
            self.scalars(step, values)
        self._send_events(step)
        self.flush()

    def _grid(self, step: int, grid: np.ndarray) -> None:
        self.image(step, grid)
        self.flush()

    def _stopped(self, step: int, stop: Stop) -> None:
        self._send_images(step)
        self._send_events(step)
        self.text(step, [(step, f"stopped: {stop.message}")])
        self.flush()

    def _catch_up(self, step: int) -> None:
        self._send_images(step)
        self._send_events(step)
        self.flush()

    def _send_images(self, step: int) -> None:
        due = [(s, g) for s, g in self._images if s <= step]
        self._images = [(s, g) for s, g in self._images if s > step]
        for s, grid in due:
            self.image(s, grid)

    def _send_events(self, step: int) -> None:
        """The events written since the last call. The health hook writes a line's events after the trackers
        saw that line: they go with the next line (or at the end)."""
        events = read_lines(self.trainer.layout.events, key="step")
        if self._started_at is not None:
            # a resumed run's file may still hold events after its checkpoint, which the health hook drops at
            # this line (and finds again): the first read takes only those up to the step training started from
            events = [e for e in events if e["step"] <= self._started_at]
            self._started_at = None
        new = events[self.events_seen :]
        if new:
            self.text(step, [(e["step"], event_line(e)) for e in new])
        self.events_seen = max(self.events_seen, len(events))


def tag(key: str) -> str:
    """Scalars grouped as trackers show them: losses, D's outputs, gradients, evaluation, health, the rest."""
    if key.startswith("eval_"):
        return f"eval/{key[5:]}"
    if key.startswith("grad_norm_"):
        return f"gradients/{key}"
    if key.startswith(("D_", "d_acc")):
        return f"discriminator/{key}"
    if key.startswith(("d_", "g_")):
        return f"loss/{key}"
    if key in ("diversity", "ndb", "mode_imbalance", "mode_excess", "near_copies"):
        return f"health/{key}"
    if key in MACHINE_KEYS:
        return f"speed/{key}"
    return f"misc/{key}"


def first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__
