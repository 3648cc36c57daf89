"""What a run reports while it trains: metrics as JSON lines, a progress bar, notes, the loss plot."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
from tqdm import tqdm

from ..files import append_lines, fsync_path
from ..jsonio import dumps, write_lines
from ..report.plots import plot_losses
from ..runs.layout import RunLayout
from ..runs.run import read_metrics
from .runtime import Runtime

SHOWN = ("d_loss", "g_gan", "D_x", "D_G_z", "D_real", "D_fake")
# measures of the machine, not of the run: a resumed run's lines differ from an uninterrupted one's only here
MACHINE_KEYS = ("images_per_s", "data_wait")


class Monitor:
    """Keeps step metrics on the device and reads them back in windows, so that a GPU run does not wait on
    the host after each step: a line of metrics.jsonl every `log_every` steps, computed on the device, and
    the lines read back together every `read_every` steps (at least READ_STEPS, so that pix2pix's
    per-step lines cost no per-step wait), and before each checkpoint. The open window is a state
    component: a run resumed at any step writes the lines an uninterrupted run would."""

    READ_STEPS = 5

    def __init__(
        self,
        run_dir: Path,
        batch_size: int,
        log_every: int,
        chance: float | None,
        quiet: bool,
        runtime: Runtime | None = None,
    ):
        """With several processes (`runtime`), each line holds the means over all of them, and only the
        main process writes."""
        self.runtime = runtime
        self.writes = runtime is None or runtime.is_main
        layout = RunLayout(run_dir)
        self.path, self.plot_path, self.log_path = layout.metrics, layout.loss_plot, layout.log
        self.events_path = layout.events
        self.batch_size, self.log_every, self.chance, self.quiet = batch_size, log_every, chance, quiet
        self.read_every = -(-self.READ_STEPS // log_every) * log_every
        self._values: dict[str, list[torch.Tensor]] = {}
        self._steps = 0
        self._pending: list[tuple[dict, list[str], torch.Tensor, dict[str, float]]] = []
        self.waited: Callable[[], float] | None = None  # seconds waited for data since last asked (BatchStream)
        self._t0 = time.perf_counter()
        self.bar: tqdm | None = None
        self._unwritten: list[dict] = []  # lines a failed write (a full disk) left for the next one
        self._failing: set[str] = set()

    def start(self, step: int, total_steps: int) -> None:
        """Drop lines a resumed run will write again, and show the progress bar."""
        self._keep_until(step)
        self._t0 = time.perf_counter()
        if self.waited:
            self.waited()  # the wait for the first batch, before training, is not a window's
        self.bar = tqdm(
            total=total_steps, initial=step, unit="step", dynamic_ncols=True, disable=self.quiet, file=sys.stderr
        )

    def _keep_until(self, step: int) -> None:
        """Lines after the checkpoint's step, and a line for an unfinished window at that step."""
        if not self.writes:
            return
        rows = read_metrics(self.path)
        kept = [r for r in rows if r["step"] < step or (r["step"] == step and step % self.log_every == 0)]
        if len(kept) < len(rows):
            write_lines(self.path, kept)
        last = kept[-1]["step"] if kept else -1
        self._unwritten = [r for r in self._unwritten if r["step"] > last]  # written after that checkpoint
        self._write([])  # the lines a checkpoint holds because a full disk kept them from the file

    def update(self, values: dict[str, torch.Tensor]) -> None:
        """A step's metrics (kept as they are: no work on the device until the window closes)."""
        self.record(values)
        self._steps += 1
        if self.bar is not None:
            self.bar.update(1)

    def record(self, values: dict[str, torch.Tensor]) -> None:
        """Values for the open window that are not a step's (a hook's measurements): each key's mean is
        over the values it was given."""
        for k, v in values.items():
            self._values.setdefault(k, []).append(v.detach())

    def flush(self, step: int, epoch: float, final: bool = False) -> list[dict]:
        """Close the window at `step` (its means, on the device) and return the lines read back now: those
        of every closed window once `read_every` steps are due, or at once when `final`. A `final` line (the
        run stops inside a window) is written but not returned, and leaves the window open, so that the
        checkpoint saved next holds it."""
        partial = final and self._steps > 0
        if self._steps:
            keys = list(self._values)
            device = self._values[keys[0]][0].device
            means = torch.stack([torch.stack([v.to(device) for v in self._values[k]]).float().mean() for k in keys])
            means = self.runtime.mean_across(means) if self.runtime else means
            elapsed = max(time.perf_counter() - self._t0, 1e-9)
            row = {"step": step, "epoch": round(epoch, 4)}
            machine = {"images_per_s": round(self._steps * self.batch_size / elapsed, 2)}
            if self.waited:
                machine["data_wait"] = round(min(1.0, self.waited() / elapsed), 4)
            self._pending.append((row, keys, means, machine))
            if not final:
                self._values, self._steps, self._t0 = {}, 0, time.perf_counter()
        if final or step % self.read_every == 0:
            rows = self.drain()
            return rows[:-1] if partial else rows  # the hooks see a stopped window's line when it closes
        return []

    def drain(self) -> list[dict]:
        """The lines of the closed windows, read back from the device at once and written."""
        pending, self._pending = self._pending, []
        if not pending:
            return []
        values = torch.cat([means for _, _, means, _ in pending]).cpu().tolist()
        rows = []
        for row, keys, _, machine in pending:
            row.update({k: round(v, 6) for k, v in zip(keys, values[: len(keys)], strict=True)})
            values = values[len(keys) :]
            row.update(machine)
            rows.append(row)
        self._write(rows)
        if self.bar is not None:
            shown = {k: f"{rows[-1][k]:.3f}" for k in SHOWN if k in rows[-1]}
            self.bar.set_postfix(shown | {"img/s": f"{rows[-1]['images_per_s']:.0f}"})
        return rows

    def _write(self, rows: list[dict]) -> None:
        """Append the lines, after any that an earlier failed write left over; a write that fails keeps
        them all for the next one (and the checkpoint holds them), so no line is lost to a full disk."""
        if not self.writes:
            return
        self._unwritten += rows
        if not self._unwritten:
            return
        lines = [dumps(r) + "\n" for r in self._unwritten]
        if self.attempt(self.path, lambda: append_lines(self.path, lines), "its lines are kept until it can"):
            self._unwritten = []

    def attempt(self, path: Path, write, consequence: str = "training goes on") -> bool:
        """Run `write` (of `path`); an OSError (a full disk) is noted once, until a write of it succeeds."""
        try:
            write()
        except OSError as e:
            if path.name not in self._failing:
                self._failing.add(path.name)
                self.note(f"could not write {path} ({e.strerror or e}); {consequence}")
            return False
        self._failing.discard(path.name)
        return True

    def sync(self) -> None:
        """Flush the run's line files to the disk (before a checkpoint that counts their lines)."""
        if self.writes:
            for path in (self.path, self.events_path, self.log_path):
                fsync_path(path)

    def note(self, text: str, console: bool = True) -> None:
        """A line for the run's log.txt and, unless quiet, the console (above the progress bar). A log
        that cannot be written (a full disk) leaves the line on the console only."""
        if not self.writes:
            return
        try:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            append_lines(self.log_path, [f"{time.strftime('%Y-%m-%d %H:%M:%S')}  {text}\n"])
        except OSError:
            console = True
        if console and not self.quiet:
            tqdm.write(text, file=sys.stderr)

    def plot(self) -> Path | None:
        if not self.writes:
            return None
        done: list[Path | None] = []
        if self.attempt(self.plot_path, lambda: done.append(plot_losses(self.path, self.plot_path, self.chance))):
            return done[0]
        return None

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()

    def state_dict(self) -> dict:
        """The open window's values (closed windows are read back before every checkpoint)."""
        values = {k: [v.cpu() for v in vs] for k, vs in self._values.items()}
        return {"values": values, "steps": self._steps, "unwritten": list(self._unwritten)}

    def load_state_dict(self, state: dict) -> None:
        if "values" in state:
            self._values = {k: list(vs) for k, vs in state["values"].items()}
        else:  # saved before 0.2: the window's sums
            sums, counts = state.get("sums", {}), state.get("counts", {})
            self._values = {k: [v / counts[k]] * counts[k] for k, v in sums.items()}
        self._steps = int(state.get("steps", 0))
        self._unwritten = [r for r in state.get("unwritten", []) if isinstance(r, dict)]
