"""The shape every ramp of a run follows (train/schedules.py, train/d_inputs.py)."""

from __future__ import annotations

import math


def cosine(start: float, end: float, progress: float) -> float:
    """From `start` at progress 0 to `end` at progress 1 along a half cosine (flat at both ends)."""
    progress = min(max(progress, 0.0), 1.0)
    return end + (start - end) * 0.5 * (1.0 + math.cos(math.pi * progress))


def run_progress(step: int, total_steps: int) -> float:
    """How far step `step` is through a run of `total_steps`: 0 at the first step, 1 at the last."""
    return step / max(total_steps - 1, 1)
