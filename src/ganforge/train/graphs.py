"""A whole training step as one CUDA graph (`train.cuda_graphs`): the batch's preparation (jitter, noise),
every phase's forward, backward and optimiser step, captured once and replayed each step.

The small presets (pix2pix at batch 1, the DCGANs) spend most of a GPU step launching kernels; a replayed
graph launches them all at once. What a graph cannot hold falls back to the eager step, with the reason in
the run's log: several processes, torch.compile, the fp16 loss scaler, a learning-rate decay, EMA weights,
phases that do not run at every step, experience replay, DiffAugment and instance noise (each of these
decides something on the host from step to step).

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
from .schedules import scheduled

WARMUP_STEPS = 3  # eager steps before the capture: cuDNN's algorithm search and the optimisers' state


def unsupported(cfg: Config, r: Runtime) -> str | None:
    """Why a run of `cfg` on runtime `r` cannot replay its step as one graph, or None (decided before the
    networks are built, so that precision auto can choose for the step that will run)."""
    reasons = {
        "the device is not CUDA": r.device.type != "cuda",
        "several processes": r.world.size > 1,
        "torch.compile": r.compile,
        "fp16's loss scaler": r.precision == "fp16",
        "a learning-rate decay": cfg.train.g_optim.lr_decay or cfg.train.d_optim.lr_decay,
        "schedules (lr_end, beta2_start, penalty_end, condition_ramp)": scheduled(cfg),
        "EMA weights": cfg.train.ema > 0,
        "experience replay": cfg.train.replay_size > 0,
        "DiffAugment": bool(cfg.data.diffaugment),
        "instance noise": cfg.loss.instance_noise > 0,
        "phases that skip or repeat steps": any(p.interval != 1 or p.repeats != 1 for p in phases_of(cfg)),
    }
    found = [why for why, present in reasons.items() if present]
    return ", ".join(found) or None


class GraphedStep:
    """Runs `step(batch)` eagerly for the first WARMUP_STEPS calls, then captures it and replays it."""

    def __init__(self, step: Callable[[Any], dict[str, torch.Tensor]], note: Callable[[str], None]):
        self.step, self.note, self.calls = step, note, 0
        self.failed = False
        self.graph: torch.cuda.CUDAGraph | None = None
        self.batch: Any = None
        self.metrics: dict[str, torch.Tensor] = {}

    def __call__(self, batch: Any) -> dict[str, torch.Tensor]:
        self.calls += 1
        if self.calls <= WARMUP_STEPS or self.failed:
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
