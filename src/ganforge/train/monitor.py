"""What a run reports while it trains: metrics as JSON lines, a progress bar, notes, the loss plot."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from tqdm import tqdm

from ..jsonio import append_line, dumps
from ..report.plots import plot_losses, read_metrics

if TYPE_CHECKING:
    from .runtime import Runtime

SHOWN = ("d_loss", "g_gan", "D_x", "D_G_z", "D_real", "D_fake")


class Monitor:
    """Sums step metrics on the device and reads them back every `log_every` steps only, so that a GPU run
    does not wait on the host after each step. The open window is a state component: a run resumed at
    any step writes the lines an uninterrupted run would."""

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
        self.path = run_dir / "metrics.jsonl"
        self.plot_path = run_dir / "losses.png"
        self.log_path = run_dir / "log.txt"
        self.batch_size, self.log_every, self.chance, self.quiet = batch_size, log_every, chance, quiet
        self._sums: dict[str, torch.Tensor] = {}
        self._counts: dict[str, int] = {}
        self._steps = 0
        self._t0 = time.perf_counter()
        self.bar: tqdm | None = None

    def start(self, step: int, total_steps: int) -> None:
        """Drop lines a resumed run will write again, and show the progress bar."""
        self._keep_until(step)
        self._t0 = time.perf_counter()
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
            self.path.write_text("".join(dumps(r) + "\n" for r in kept))

    def update(self, values: dict[str, torch.Tensor]) -> None:
        """A step's metrics."""
        self.record(values)
        self._steps += 1
        if self.bar is not None:
            self.bar.update(1)

    def record(self, values: dict[str, torch.Tensor]) -> None:
        """Values for the open window that are not a step's (a hook's measurements): each key's mean is
        over the values it was given."""
        for k, v in values.items():
            v = v.detach().float()
            self._sums[k] = self._sums[k].to(v.device) + v if k in self._sums else v
            self._counts[k] = self._counts.get(k, 0) + 1

    def flush(self, step: int, epoch: float, final: bool = False) -> dict | None:
        """Write the window's means as one JSON line. A `final` line (the run stops inside a window) leaves
        the window open, so that the checkpoint saved next holds it."""
        if not self._steps:
            return None
        keys = list(self._sums)
        counts = torch.tensor([self._counts[k] for k in keys], dtype=torch.float32)
        device = self._sums[keys[0]].device
        means = torch.stack([self._sums[k].to(device) for k in keys]) / counts.to(device)
        means = (self.runtime.mean_across(means) if self.runtime else means).tolist()
        elapsed = time.perf_counter() - self._t0
        row = {"step": step, "epoch": round(epoch, 4)}
        row.update({k: round(v, 6) for k, v in zip(keys, means, strict=True)})
        row["images_per_s"] = round(self._steps * self.batch_size / max(elapsed, 1e-9), 2)
        if self.writes:
            append_line(self.path, row)
        if self.bar is not None:
            shown = {k: f"{row[k]:.3f}" for k in SHOWN if k in row}
            self.bar.set_postfix(shown | {"img/s": f"{row['images_per_s']:.0f}"})
        if not final:
            self._sums, self._counts, self._steps, self._t0 = {}, {}, 0, time.perf_counter()
        return row

    def note(self, text: str, console: bool = True) -> None:
        """A line for the run's log.txt and, unless quiet, the console (above the progress bar)."""
        if not self.writes:
            return
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("a") as f:
            f.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')}  {text}\n")
        if console and not self.quiet:
            tqdm.write(text, file=sys.stderr)

    def plot(self) -> Path | None:
        if not self.writes:
            return None
        return plot_losses(self.path, self.plot_path, self.chance)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()

    def state_dict(self) -> dict:
        return {
            "sums": {k: v.cpu() for k, v in self._sums.items()},
            "counts": dict(self._counts),
            "steps": self._steps,
        }

    def load_state_dict(self, state: dict) -> None:
        self._sums = dict(state.get("sums", {}))
        self._counts = dict(state.get("counts", {}))
        self._steps = int(state.get("steps", 0))
