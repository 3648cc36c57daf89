"""`ganforge train --resume RUN_DIR --checkpoint step_N`: go back to an earlier checkpoint on purpose.

What the run made after that step (later step_*.pt, best.pt if newer, sample grids, eval results of later
checkpoints, and the metrics and events lines after it) is moved into RUN_DIR/rolled_back/step_N-TIME/,
not deleted, and log.txt says so; the run then trains on from step N as if it had stopped there.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

from ..jsonio import loads, read_lines, read_text, write_lines
from .checkpoint import checkpoint_step
from .layout import EVENTS, GRID_FILE, LATEST, METRICS, STEP_FILE, RunLayout, step_name


def roll_back(run_dir: Path, checkpoint: Path, step: int) -> str | None:
    """Set aside what the run made after `step`, the step of `checkpoint` (the one it goes on from).
    Returns the note on what was moved (None if nothing was newer)."""
    run = RunLayout(run_dir)
    aside = run.rolled_back / f"{step_name(step, '')}-{time.strftime('%Y%m%d-%H%M%S')}"
    moved = []
    for path in _newer_files(run_dir, step, checkpoint):
        target = aside / path.relative_to(run_dir)
        target.parent.mkdir(parents=True, exist_ok=True)
        path.replace(target)
        moved.append(str(path.relative_to(run_dir)))
    for name in (METRICS, EVENTS):
        rows = read_lines(run_dir / name, key="step")
        later = [r for r in rows if r["step"] > step]
        if later:
            aside.mkdir(parents=True, exist_ok=True)
            write_lines(aside / name, later)
            write_lines(run_dir / name, [r for r in rows if r["step"] <= step])
            moved.append(f"{len(later)} lines of {name}")
    if checkpoint.name != LATEST and run.latest.is_file():
        aside.mkdir(parents=True, exist_ok=True)
        run.latest.replace(aside / LATEST)
        moved.append(str(run.latest.relative_to(run_dir)))
    note = None
    if moved:
        shown = ", ".join(moved[:6]) + (f" and {len(moved) - 6} more" if len(moved) > 6 else "")
        note = f"rolled back to step {step} ({checkpoint.name}): moved what came after it to {aside}: {shown}"
    return note


def _newer_files(run_dir: Path, step: int, keep: Path) -> list[Path]:
    """The run's files that belong to steps after `step`: kept checkpoints, best.pt, grids, eval results."""
    run = RunLayout(run_dir)
    found = []
    for p in run.checkpoints.glob("*.pt"):
        if p == keep or p.name == LATEST:
            continue
        match = STEP_FILE.fullmatch(p.name)
        later = int(match.group(1)) > step if match else (checkpoint_step(p) or 0) > step
        if later:
            found.append(p)
    found += [p for p in run.grids() if _later(GRID_FILE, p.name, step)]
    for p in run.eval_files():
        saved = read_step(p)
        if saved is not None and saved > step:
            found.append(p)
    return sorted(found)


def _later(pattern: re.Pattern, name: str, step: int) -> bool:
    match = pattern.fullmatch(name)
    return bool(match) and int(match.group(1)) > step


def read_step(path: Path) -> int | None:
    """The checkpoint step an eval_*.json was measured at."""
    try:
        data = loads(read_text(path))
    except (OSError, ValueError):
        return None
    step = data.get("step") if isinstance(data, dict) else None
    return step if isinstance(step, int) and not isinstance(step, bool) else None
