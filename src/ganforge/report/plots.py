"""The loss plot of a run, read from its metrics.jsonl."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

from ..files import atomic_write
from ..jsonio import is_number
from ..runs.run import read_metrics
from .figures import keys_like, plain

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def plot_losses(metrics_path: Path, out: Path, chance: float | None = math.log(2)) -> Path | None:
    """Adversarial losses (against the chance line of a logistic loss, log 2 = 0.69 as in seed 000), D's
    outputs (probabilities for a logistic loss, raw scores otherwise), and any extra G losses."""
    rows = read_metrics(metrics_path)
    if not rows:
        return None
    steps = [r["step"] for r in rows]
    extras = keys_like(rows, lambda k: k.startswith("g_") and k not in ("g_loss", "g_gan"))
    panels = 3 if extras else 2
    fig, axes = plt.subplots(1, panels, figsize=(5 * panels, 3.6), constrained_layout=True)
    ax = axes[0]
    ax.plot(steps, _series(rows, "d_loss"), label="D loss (real+fake)/2")
    ax.plot(steps, _series(rows, "g_gan"), label="G adversarial loss")
    if chance is not None:
        ax.axhline(chance, color="gray", ls="--", lw=1, label=f"chance = {chance:.2f}")
    ax.set_xlabel("step")
    ax.set_title("adversarial losses")
    ax.legend(fontsize=8)
    ax = axes[1]
    if any("D_x" in r for r in rows):
        ax.plot(steps, _series(rows, "D_x"), label="D(x), reals")
        ax.plot(steps, _series(rows, "D_G_z"), label="D(G(z)), fakes")
        ax.axhline(0.5, color="gray", ls="--", lw=1)
        ax.set_ylim(0, 1)
        ax.set_title("discriminator outputs (probability real)")
    else:
        ax.plot(steps, _series(rows, "D_real"), label="D on reals")
        ax.plot(steps, _series(rows, "D_fake"), label="D on fakes")
        ax.set_title("discriminator outputs (mean score)")
    ax.set_xlabel("step")
    ax.legend(fontsize=8)
    if extras:
        ax = axes[2]
        for k in extras:
            ax.plot(steps, _series(rows, k), label=plain(k))
        ax.set_xlabel("step")
        ax.set_title("generator reconstruction losses")
        ax.legend(fontsize=8)
    try:
        atomic_write(out, lambda f: fig.savefig(f, format="png", dpi=100))
    finally:
        plt.close(fig)
    return out


def _series(rows: list[dict], key: str) -> list[float]:
    """A metric's values, NaN where a line lacks it or holds null (a non-finite value) or no number."""
    return [float(r[key]) if is_number(r.get(key)) else float("nan") for r in rows]
