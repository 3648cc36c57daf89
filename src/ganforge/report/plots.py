"""The loss plot of a run, read from its metrics.jsonl."""

from __future__ import annotations

import json
import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def read_metrics(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def plot_losses(metrics_path: Path, out: Path) -> Path | None:
    """Adversarial losses against the log 2 = 0.69 line (seed 000), D's outputs, and any extra G losses."""
    rows = read_metrics(metrics_path)
    if not rows:
        return None
    steps = [r["step"] for r in rows]
    extras = sorted({k for r in rows for k in r if k.startswith("g_") and k not in ("g_loss", "g_gan")})
    panels = 3 if extras else 2
    fig, axes = plt.subplots(1, panels, figsize=(5 * panels, 3.6), constrained_layout=True)
    ax = axes[0]
    ax.plot(steps, [r["d_loss"] for r in rows], label="D loss (real+fake)/2")
    ax.plot(steps, [r["g_gan"] for r in rows], label="G adversarial loss")
    ax.axhline(math.log(2), color="gray", ls="--", lw=1, label="log 2 = 0.69")
    ax.set_xlabel("step")
    ax.set_title("adversarial losses")
    ax.legend(fontsize=8)
    ax = axes[1]
    ax.plot(steps, [r["D_x"] for r in rows], label="D(x), reals")
    ax.plot(steps, [r["D_G_z"] for r in rows], label="D(G(z)), fakes")
    ax.axhline(0.5, color="gray", ls="--", lw=1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("step")
    ax.set_title("discriminator outputs")
    ax.legend(fontsize=8)
    if extras:
        ax = axes[2]
        for k in extras:
            ax.plot(steps, [r.get(k, float("nan")) for r in rows], label=k)
        ax.set_xlabel("step")
        ax.set_title("generator reconstruction losses")
        ax.legend(fontsize=8)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out
