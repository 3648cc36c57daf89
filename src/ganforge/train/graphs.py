"""A whole training step as one CUDA graph (`train.cuda_graphs`): the batch's preparation (jitter, noise),
every phase's forward, backward and optimiser step, captured once and replayed each step.

The small presets (pix2pix at batch 1, the DCGANs) spend most of a GPU step launching kernels; a replayed
graph launches them all at once. A graph replays the same kernels on the same tensors, so whatever changes
from step to step is a tensor on the device, written in place before the replay by code outside the graph:
the learning rate (a tensor the optimisers read; its decay advances after the step, NetOptimizer.advance),
the ramps of train/schedules.py, EMA's weight (ema.py), DiffAugment's chance and the instance noise's scale
(d_inputs.py); their random draws are the same each step. Experience replay runs eagerly until its buffer
is full, then at fixed shapes (replay.py). What a graph cannot hold falls back to the eager step, with the
reason in the run's log: several processes, torch.compile, the fp16 loss scaler, a ramp of Adam's beta2
(a fused Adam takes it as a number), and phases that do not run at every step.

Random numbers stay fresh at each replay (PyTorch advances the graph's Philox offsets), the optimisers
run their capturable kernels (their step counters on the device), and the weights, optimiser state and
statistics are updated in place, so that checkpoints, samples and evaluation read them as they do in eager
mode.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from ..config import Config
from .objective import phases_of
from .runtime import Runtime
from .schedules import beta2_ramped

WARMUP_STEPS = 3  # eager steps before the capture: cuDNN's algorithm search and the optimisers' state


def unsupported(cfg: Config, r: Runtime) -> str | None:
    """Why a run of `cfg` on runtime `r` cannot replay its step as one graph, or None (decided before the
    networks are built, so that precision auto can choose for the step that will run)."""
    reasons = {
        "the device is not CUDA": r.device.type != "cuda",
        "several processes": r.world.size > 1,
        "torch.compile": r.compile,
        "fp16's loss scaler": r.precision == "fp16",
        "a ramp of Adam's beta2 (beta2_start)": beta2_ramped(cfg),
        "phases that skip or repeat steps": any(p.interval != 1 or p.repeats != 1 for p in phases_of(cfg)),
        "real-world inputs (sizes drawn on the host at each step)": getattr(cfg.model, "inputs", "") == "realworld",
    }
    found = [why for why, present in reasons.items() if present]
    return ", ".join(found) or None


class GraphedStep:
    """Runs `step(batch)` eagerly for the first WARMUP_STEPS calls and until `ready()` (the step does the
    same from then on), then captures it and replays it."""

    def __init__(
        self,
        step: Callable[[Any], dict[str, torch.Tensor]],
        note: Callable[[str], None],
        ready: Callable[[], bool] = lambda: True,
    ):
        self.step, self.note, self.ready, self.calls = step, note, ready, 0
        self.failed = False
        self.graph: torch.cuda.CUDAGraph | None = None
        self.batch: Any = None
        self.metrics: dict[str, torch.Tensor] = {}

    def __call__(self, batch: Any) -> dict[str, torch.Tensor]:
        self.calls += 1
        if self.graph is None and (self.calls <= WARMUP_STEPS or self.failed or not self.ready()):
            return self.step(batch)
        if self.graph is None:
            try:
                self._capture(batch)
            except RuntimeError as e:  # a kernel or a library call that a graph cannot hold: go on eagerly
                self.failed = True
                self.note(f"note: the step could not be captured as a CUDA graph, it runs eagerly: {e}")
                return self.step(batch)
        else:
            _copy(self.batch, batch)
        self.graph.replay()
        values = torch.stack(list(self.metrics.values()))  # one copy: the next replay overwrites them
        return dict(zip(self.metrics, values.unbind(), strict=True))

    def _capture(self, batch: Any) -> None:
        self.batch = _clone(batch)
        torch.cuda.synchronize()
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph, capture_error_mode="thread_local"):  # data loader threads may go on
            self.metrics = self.step(self.batch)
        self.graph = graph


def _clone(batch: Any) -> Any:
    return tuple(x.clone() for x in batch) if isinstance(batch, (tuple, list)) else batch.clone()


def _copy(static: Any, batch: Any) -> None:
    for s, b in zip(static, batch, strict=True) if isinstance(static, tuple) else [(static, batch)]:
        s.copy_(b, non_blocking=True)
