"""Hooks: pieces of training that act at fixed points of the loop, built by name from the run.

A builder in `HOOKS` receives the trainer (its config, networks and optimisers) and returns a hook, or
None when the config leaves it off. Each step (Trainer.train_step) calls `before_step` first, `after_phase`
after each phase's optimiser step; the loop calls `after_step` after each step, `after_log` after each
metrics line and `after_samples` with each sample grid; a hook stops a run with
`trainer.request_stop(Stop(...))`, and `close` is called once training is over (the trackers finish their
runs). A hook with `state_dict()`/`load_state_dict()` is saved and resumed with
the run under its name; the networks it names in `networks()` (EMA weights) are saved under theirs, and an
inference contract may choose them (`InferenceContract.weights`). Training health, EMA and evaluation
during training plug in here, without an edit of the loop.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import torch
from torch import nn

from ..config import Config
from ..data.base import ImageDataset
from ..models.contract import InferenceContract
from ..registry import HOOKS
from ..runs.layout import RunLayout
from .distributed import World
from .monitor import Monitor
from .objective import GANObjective, Phase
from .optim import NetOptimizer
from .state import Progress


@dataclass(frozen=True)
class Stop:
    """Why a run stops early; `save`: whether its state is still worth a checkpoint."""

    kind: str
    message: str
    save: bool = True


class TrainerView(Protocol):
    """What a hook reads of the trainer (train/loop.py's Trainer is one): hooks depend on this, not on the
    loop."""

    cfg: Config
    contract: InferenceContract
    dataset: ImageDataset
    device: torch.device
    g: nn.Module
    layout: RunLayout
    monitor: Monitor
    networks: dict[str, nn.Module]
    objective: GANObjective
    optimizers: dict[str, NetOptimizer]
    progress: Progress
    run_dir: Path
    total_steps: int
    world: World

    def request_stop(self, stop: Stop) -> None: ...

    def save(self, *names: str) -> None: ...


class Hook:
    def before_step(self, step: int) -> None:
        """Before the step that starts at `step` (counted from 0): values that ramp are set here."""

    def after_phase(self, phase: Phase) -> None:
        """After `phase`'s optimiser step (several times a step for repeated phases)."""

    def after_step(self, step: int, metrics: dict[str, torch.Tensor]) -> None:
        """After step `step` (counted from 1), with its metrics (on the device, detached)."""

    def after_log(self, step: int, row: dict[str, Any] | None) -> None:
        """After a line of metrics.jsonl is written at `step` (its values as read back from the device)."""

    def after_samples(self, step: int, images: torch.Tensor, nrow: int) -> None:
        """After the sample grid of `step` is saved: its images (N, C, H, W) in [-1, 1], `nrow` a row."""

    def healthy(self) -> bool:
        """False vetoes checkpoints and sample grids (the health hook: a NaN was seen)."""
        return True

    def on_stop(self, stop: Stop) -> None:
        """The run stops early, for `stop.kind`."""

    def close(self) -> None:
        """Training is over, however it ended (after `on_stop`, on an error too): once, from train/launch.py."""

    def networks(self) -> dict[str, nn.Module]:
        return {}

    def notes(self) -> list[str]:
        """Lines for the run's log when training starts (what this hook chose, or warns of)."""
        return []


def build_hooks(trainer: TrainerView) -> dict[str, Hook]:
    """The hooks the run's config switches on, by name. They get a weak reference to the trainer, so that
    a trainer is freed (and its data-loading processes stopped) as soon as nothing else holds it."""
    proxy = weakref.proxy(trainer)
    built = {name: HOOKS.get(name)(proxy) for name in HOOKS}
    return {name: hook for name, hook in built.items() if hook is not None}
