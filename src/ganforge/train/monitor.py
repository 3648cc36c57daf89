"""What a run reports while it trains: metrics as JSON lines, a progress bar, the loss plot."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import torch
from tqdm import tqdm

from ..report.plots import plot_losses

SHOWN = ("d_loss", "g_gan", "D_x", "D_G_z")


class Monitor:
    """Accumulates step metrics on the device and reads them back only every `log_every` steps,
    so that a GPU run does not wait on the host after each step."""

    def __init__(self, run_dir: Path, total_steps: int, start_step: int, batch_size: int, quiet: bool):
        self.path = run_dir / "metrics.jsonl"
        self.plot_path = run_dir / "losses.png"
        self.batch_size = batch_size
        self.quiet = quiet
        self._keep_until(start_step)
        self._sums: dict[str, torch.Tensor] = {}
        self._count = 0
        self._t0 = time.perf_counter()
        self.last: dict[str, float] = {}
        self.bar = tqdm(
            total=total_steps, initial=start_step, unit="step", dynamic_ncols=True, disable=quiet, file=sys.stderr
        )

    def _keep_until(self, step: int) -> None:
        """On resume, drop lines logged after the checkpoint: they will be logged again."""
        if not self.path.exists():
            return
        lines = [ln for ln in self.path.read_text().splitlines() if ln.strip()]
        kept = [ln for ln in lines if json.loads(ln)["step"] <= step]
        self.path.write_text("".join(ln + "\n" for ln in kept))

    def update(self, values: dict[str, torch.Tensor]) -> None:
        for k, v in values.items():
            v = v.detach().float()
            self._sums[k] = self._sums[k] + v if k in self._sums else v
        self._count += 1
        self.bar.update(1)

    def flush(self, step: int, epoch: float) -> dict[str, float]:
        """Write the means since the last flush as one JSON line; returns them."""
        if not self._count:
            return self.last
        keys = list(self._sums)
        means = (torch.stack([self._sums[k] for k in keys]) / self._count).tolist()
        elapsed = time.perf_counter() - self._t0
        row = {"step": step, "epoch": round(epoch, 4)}
        row.update({k: round(v, 6) for k, v in zip(keys, means, strict=True)})
        row["images_per_s"] = round(self._count * self.batch_size / max(elapsed, 1e-9), 2)
        with self.path.open("a") as f:
            f.write(json.dumps(row) + "\n")
        self.bar.set_postfix({k: f"{row[k]:.3f}" for k in SHOWN if k in row} | {"img/s": f"{row['images_per_s']:.0f}"})
        self._sums, self._count, self._t0 = {}, 0, time.perf_counter()
        self.last = row
        return row

    def plot(self) -> Path | None:
        return plot_losses(self.path, self.plot_path)

    def close(self) -> None:
        self.bar.close()
