"""The plots of the HTML report, each rendered to a PNG data: URI (None when the run has no data for it)."""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Callable, Iterable

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from ..jsonio import is_number  # noqa: E402

MAX_SERIES = 24  # lines or panels of keys a run chose; a crafted file with thousands draws the first ones
EVENT_COLOURS = ["#d62728", "#9467bd", "#8c564b", "#e377c2", "#bcbd22", "#17becf", "#ff7f0e"]


def data_uri(payload: bytes, mime: str = "image/png") -> str:
    return f"data:{mime};base64,{base64.b64encode(payload).decode('ascii')}"


def series(rows: list[dict], key: str) -> tuple[list[float], list[float]]:
    """(steps, values) of the lines that hold `key`; a null (non-finite) value is NaN, a gap in the line."""
    steps, values = [], []
    for r in rows:
        if key not in r or not is_number(r.get("step")):
            continue
        v = r[key]
        steps.append(r["step"])
        values.append(float(v) if is_number(v) else math.nan)
    return steps, values


def has(rows: list[dict], key: str) -> bool:
    return any(is_number(r.get(key)) for r in rows)


def keys_like(rows: list[dict], test: Callable[[str], bool]) -> list[str]:
    """The keys of any line that pass `test` and hold a number somewhere, sorted (MAX_SERIES at most)."""
    return sorted({k for r in rows for k in r if test(k) and is_number(r[k])})[:MAX_SERIES]


def plain(text: str, limit: int = 60) -> str:
    """Text from a run's files as matplotlib shows it literally: `$` starts no mathtext, and it is short."""
    text = text if len(text) <= limit else text[: limit - 1] + "…"
    return text.replace("$", r"\$")


def _render(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    plt.close(fig)
    return data_uri(buf.getvalue())


def _line(ax, rows: list[dict], key: str, label: str | None = None, **style) -> None:
    steps, values = series(rows, key)
    marker = "o" if len(steps) < 30 else None
    ax.plot(steps, values, label=plain(label or key), marker=marker, ms=3, **style)


def _finish(ax, title: str) -> None:
    ax.set_xlabel("step")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title(plain(title))
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8)


def _mark_events(ax, events: Iterable[dict]) -> None:
    """A dashed vertical line at each event's step, one colour and one legend entry per kind."""
    colours: dict[str, str] = {}
    for e in events:
        step, kind = e.get("step"), plain(str(e.get("kind", "event")))
        if not is_number(step):
            continue
        first = kind not in colours
        colour = colours.setdefault(kind, EVENT_COLOURS[len(colours) % len(EVENT_COLOURS)])
        ax.axvline(step, color=colour, ls=":", lw=1.2, label=f"event: {kind}" if first else None)


def loss_figure(rows: list[dict], chance: float | None, events: list[dict]) -> str | None:
    """D's and G's adversarial losses against the chance line (log 2 = 0.69 for a logistic loss), with the
    health events; G's reconstruction losses in a second panel when the model has them."""
    main = [k for k in ("d_loss", "g_gan") if has(rows, k)]
    extras = keys_like(rows, lambda k: k.startswith("g_") and k not in ("g_gan", "g_loss"))
    if not main and not extras:
        return None
    panels = 2 if main and extras else 1
    fig, axes = plt.subplots(1, panels, figsize=(6 * panels, 3.6), constrained_layout=True, squeeze=False)
    ax = axes[0][0]
    if main:
        labels = {"d_loss": "D loss (real+fake)/2", "g_gan": "G adversarial loss"}
        for k in main:
            _line(ax, rows, k, labels[k])
        if extras and has(rows, "g_loss"):
            _line(ax, rows, "g_loss", "G total loss", alpha=0.6)
        if chance is not None:
            ax.axhline(chance, color="gray", ls="--", lw=1, label=f"chance = {chance:.2f}")
        _mark_events(ax, events)
        _finish(ax, "adversarial losses")
        ax = axes[0][-1]
    if extras:
        for k in extras:
            _line(ax, rows, k)
        _finish(ax, "generator reconstruction losses")
    return _render(fig)


def d_output_figure(rows: list[dict]) -> str | None:
    """Probabilities D(x), D(G(z)) for a logistic loss, raw scores D_real, D_fake otherwise."""
    fig, ax = plt.subplots(figsize=(6, 3.4), constrained_layout=True)
    if has(rows, "D_x") or has(rows, "D_G_z"):
        _line(ax, rows, "D_x", "D(x), reals")
        _line(ax, rows, "D_G_z", "D(G(z)), fakes")
        ax.axhline(0.5, color="gray", ls="--", lw=1, label="0.5 = cannot tell")
        ax.set_ylim(0, 1)
        _finish(ax, "D's probability that an image is real")
    elif has(rows, "D_real") or has(rows, "D_fake"):
        _line(ax, rows, "D_real", "D on reals")
        _line(ax, rows, "D_fake", "D on fakes")
        _finish(ax, "D's raw scores")
    else:
        plt.close(fig)
        return None
    return _render(fig)


def grad_norm_figure(rows: list[dict]) -> str | None:
    keys = keys_like(rows, lambda k: k.startswith("grad_norm_"))
    if not keys:
        return None
    fig, ax = plt.subplots(figsize=(6, 3.4), constrained_layout=True)
    for k in keys:
        _line(ax, rows, k)
    if all(v > 0 for k in keys for v in series(rows, k)[1] if not math.isnan(v)):
        ax.set_yscale("log")
    _finish(ax, "gradient norms")
    return _render(fig)


def diversity_figure(rows: list[dict]) -> str | None:
    keys = [k for k in ("diversity", "ndb", "mode_imbalance") if has(rows, k)]
    if not keys:
        return None
    titles = {
        "diversity": "diversity (1 = as varied as reals)",
        "ndb": "NDB (share of bins that differ)",
        "mode_imbalance": "mode imbalance (share in the wrong modes)",
    }
    fig, axes = plt.subplots(1, len(keys), figsize=(5 * len(keys), 3.2), constrained_layout=True, squeeze=False)
    for ax, k in zip(axes[0], keys, strict=True):
        _line(ax, rows, k)
        _finish(ax, titles[k])
    return _render(fig)


def augmentation_figure(rows: list[dict], target: float) -> str | None:
    """Adaptive augmentation: the chance p and D's overfitting heuristic r_t against its target."""
    if not has(rows, "augment_p"):
        return None
    fig, ax = plt.subplots(figsize=(6, 3.2), constrained_layout=True)
    _line(ax, rows, "augment_p", "p, the augmentation's chance")
    _line(ax, rows, "ada_rt", "r_t = E[sign D(real)]")
    ax.axhline(target, color="grey", linestyle="--", linewidth=1, label=f"target {target:g}")
    _finish(ax, "adaptive augmentation")
    return _render(fig)


def eval_figure(rows: list[dict]) -> str | None:
    """One small panel per evaluation metric logged during training (keys eval_*)."""
    keys = keys_like(rows, lambda k: k.startswith("eval_"))
    if not keys:
        return None
    cols = min(3, len(keys))
    nrows = -(-len(keys) // cols)
    fig, axes = plt.subplots(nrows, cols, figsize=(4 * cols, 2.8 * nrows), constrained_layout=True, squeeze=False)
    flat = [ax for row in axes for ax in row]
    for ax, k in zip(flat[: len(keys)], keys, strict=True):
        _line(ax, rows, k, k.removeprefix("eval_"))
        _finish(ax, k.removeprefix("eval_"))
        ax.get_legend().remove()
    for ax in flat[len(keys) :]:
        ax.axis("off")
    return _render(fig)
