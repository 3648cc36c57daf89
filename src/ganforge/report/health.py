"""`ganforge health RUN_DIR`: a verdict on any run, in the seeds' terms, from its metrics and events.

It reads what the run wrote so far, so it works on a run still training; a run without events.jsonl
(made before training health existed) has its events found again from metrics.jsonl by the same detector.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..config import HealthConfig
from ..detector import events_from_metrics, recon_key
from ..jsonio import read_lines
from ..losses import build_adversarial_loss
from ..runs.checkpoint import checkpoint_step
from ..runs.layout import RunLayout
from ..runs.run import open_run, read_metrics

LAST = 5  # metrics lines that make "now"


def _mean(rows: list[dict], key: str) -> float | None:
    values = [r[key] for r in rows if isinstance(r.get(key), (int, float))]
    return sum(values) / len(values) if values else None


def health_report(run_dir: str | Path) -> dict[str, Any]:
    path, cfg = open_run(run_dir)
    run = RunLayout(path)
    rows = read_metrics(run.metrics)
    logged = run.events
    events = read_lines(logged) if logged.exists() else [e.to_dict() for e in events_from_metrics(cfg, rows)]
    report: dict[str, Any] = {"run": str(path), "step": rows[-1]["step"] if rows else 0, "events": events}
    if not rows:
        saved = checkpoint_step(run.latest) or 0
        report["verdict"], report["step"] = [_no_metrics(path, saved)], saved
        return report
    loss = build_adversarial_loss(cfg)
    now, start = rows[-LAST:], rows[:LAST]
    d, g = _mean(now, "d_loss"), _mean(now, "g_gan")
    report.update({"d_loss": d, "g_gan": g, "chance": loss.chance})
    verdict = []
    if loss.chance is not None and d is not None and g is not None:
        verdict.append(_balance(d, g, loss.chance, loss.d_floor, cfg.health))
    key = recon_key(cfg)
    if key and _mean(start, key) is not None:
        first, last = _mean(start, key), _mean(now, key)
        report["reconstruction"] = {"key": key, "first": first, "last": last}
        trend = "is falling, as it should" if last < first * 0.98 else "is not falling"
        verdict.append(f"{key} {trend}: {first:.4f} at the start, {last:.4f} now")
    h = cfg.health
    for key, bad, (sick, well), says in (  # the sample-step measures: the last one, against its event's threshold
        ("diversity", lambda v: v < h.collapse_below, ("collapsing", "not collapsing"),
         f"diversity {{v:.2f}} at the last sample step (1 = as varied as the real images, below "
         f"{h.collapse_below:g} = mode collapse)"),
        ("mode_imbalance", lambda v: v > h.dropping_above, ("dropping modes", "modes in proportion"),
         f"{{v:.0%}} of the images in the wrong modes at the last sample step (above {h.dropping_above:.0%} = "
         "mode dropping)"),
        ("near_copies", lambda v: v > h.memorising_above, ("memorising", "not copying"),
         f"{{v:.0%}} of the samples are near-copies of training images at the last sample step (above "
         f"{h.memorising_above:.0%} = memorising)"),
    ):  # fmt: skip
        values = [r[key] for r in rows if isinstance(r.get(key), (int, float))]
        if values:
            report[key] = v = values[-1]
            verdict.append(f"{sick if bad(v) else well}: {says.format(v=v)}")
    wait = _mean(now, "data_wait")  # a measure of the machine: over the last lines, not one sample step
    if wait is not None:
        report["data_wait"] = wait
        verdict.append(
            f"{'starved of data' if wait > h.starved_above else 'fed'}: the step waited for its data {wait:.0%} "
            f"of the time over the last {len(now)} lines (above {h.starved_above:.0%} = data_starved)"
        )
    kinds = sorted({str(e.get("kind")) for e in events})
    verdict.append(f"events: {', '.join(kinds)}" if kinds else "no health events")
    report["verdict"] = verdict
    return report


def _no_metrics(path: Path, saved: int) -> str:
    """Why a run has no metrics lines: it has not logged one yet, or its metrics.jsonl is gone."""
    if not saved:
        return "no metrics yet: the run has not logged a line"
    what = "holds no metrics lines" if RunLayout(path).metrics.is_file() else "is missing"
    return f"no verdict: metrics.jsonl {what}, although the latest checkpoint is at step {saved}"


def _balance(d: float, g: float, chance: float, floor: float, h: HealthConfig) -> str:
    """Seed 000's reading: log 2 = 0.69 is D's loss at chance; far below it, that network dominates (with
    the thresholds of the d_wins and g_wins events)."""
    if d < floor + h.d_wins_below * (chance - floor) and g > chance:
        who = "D is winning: it tells reals from fakes easily and G learns little"
    elif g < h.g_wins_below * chance and d > chance:
        who = "G is winning: D cannot tell its fakes from reals"
    else:
        who = "neither network has won"
    return f"{who} (D loss {d:.3f}, G adversarial loss {g:.3f}, chance log 2 = {chance:.2f})"


def format_report(report: dict[str, Any]) -> str:
    lines = [f"{report['run']} at step {report['step']}"]
    lines += [f"  {line}" for line in report["verdict"]]
    for e in report["events"]:
        lines.append(f"  [{e.get('kind')}] step {e.get('step')}: {e.get('message')}; {e.get('advice')}")
    return "\n".join(lines)
