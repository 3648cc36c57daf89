"""Training state as components: everything a checkpoint must hold to continue a run exactly.

A component is anything with `state_dict()` and `load_state_dict(state)`: networks, optimisers,
schedules, the random streams, the data position, the monitor's open window, and whatever a feature adds
(EMA weights, a buffer of old fakes, a gradient scaler). `TrainingState` saves and restores them all by
name, so a new feature adds a component and never touches the checkpoint code. Networks are saved without
the wrappers of `torch.compile` and DistributedDataParallel, so a checkpoint loads into a plain module.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from torch import nn

from ..errors import UserError
from ..runs.checkpoint import mismatch
from .distributed import World, gather_objects


class Stateful(Protocol):
    def state_dict(self) -> Any: ...

    def load_state_dict(self, state: Any) -> None: ...


def unwrap(module: nn.Module) -> nn.Module:
    """The plain module inside `torch.compile`'s and (Distributed)DataParallel's wrappers."""
    while True:
        if isinstance(module, (nn.parallel.DistributedDataParallel, nn.DataParallel)):
            module = module.module
        elif hasattr(module, "_orig_mod"):  # torch.compile's OptimizedModule
            module = module._orig_mod
        else:
            return module


class Network:
    """A network as a component: its plain module's weights and buffers, whatever wraps it."""

    def __init__(self, module: nn.Module):
        self.module = module

    def state_dict(self) -> dict[str, torch.Tensor]:
        return unwrap(self.module).state_dict()

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        unwrap(self.module).load_state_dict(state)


class Value:
    """A value kept as it is (the sample grid's fixed inputs)."""

    def __init__(self, value: Any):
        self.value = value

    def state_dict(self) -> Any:
        return self.value

    def load_state_dict(self, state: Any) -> None:
        self.value = state


@dataclass
class Progress:
    """How far a run is: generator steps taken and batches drawn from the data."""

    step: int = 0
    batches: int = 0

    def state_dict(self) -> dict[str, int]:
        return asdict(self)

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.step, self.batches = int(state["step"]), int(state["batches"])


class RandomStreams:
    """The global random streams: torch's CPU generator and the CUDA generator of the process's device,
    NumPy's and Python's. With several processes, each process's streams, gathered in rank order; a run
    resumed on more processes than it was saved from seeds the new ones' streams afresh."""

    def __init__(self, seed: int = 0, world: World | None = None):
        self.seed, self.world = seed, world or World()

    @staticmethod
    def _local() -> dict[str, Any]:
        kind, keys, pos, has_gauss, gauss = np.random.get_state()
        state = {
            "torch": torch.get_rng_state(),
            "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, gauss],
            "python": random.getstate(),
        }
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            state["cuda_device"] = torch.cuda.get_rng_state()
        return state

    def state_dict(self) -> dict[str, Any]:
        local = self._local()
        return local if self.world.size == 1 else {**local, "ranks": gather_objects(local)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        ranks = state.get("ranks", [state])
        if self.world.rank >= len(ranks):
            torch.manual_seed(self.seed + self.world.rank)
            return
        state = ranks[self.world.rank]
        torch.set_rng_state(state["torch"])
        if torch.cuda.is_available():
            if "cuda_device" in state:
                torch.cuda.set_rng_state(state["cuda_device"])
            elif "cuda" in state and len(state["cuda"]) == torch.cuda.device_count():  # saved before 0.2
                torch.cuda.set_rng_state_all(state["cuda"])
        if "numpy" in state:
            kind, keys, pos, has_gauss, gauss = state["numpy"]
            np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, gauss))
        if "python" in state:
            version, internal, gauss_next = state["python"]
            random.setstate((version, tuple(internal), gauss_next))


class TrainingState:
    """Named components, saved and restored together."""

    def __init__(self) -> None:
        self.components: dict[str, Stateful] = {}
        self.optional: set[str] = set()

    def add(self, name: str, component: Stateful | nn.Module, optional: bool = False) -> Any:
        """`optional`: a checkpoint without it (written before the component existed) still loads, and the
        component keeps its fresh state."""
        if name in self.components:
            raise ValueError(f"a state component named {name!r} exists already")
        self.components[name] = Network(component) if isinstance(component, nn.Module) else component
        if optional:
            self.optional.add(name)
        return component

    def state_dict(self) -> dict[str, Any]:
        return {name: c.state_dict() for name, c in self.components.items()}

    def load_state_dict(
        self, state: dict[str, Any], source: Path | str = "the checkpoint", config: dict | None = None
    ) -> None:
        """Every component's state from `state`; `config`, the run's config now, names what changed where
        a component does not fit."""
        state = upgrade_checkpoint(state)
        missing = [name for name in self.components if name not in state and name not in self.optional]
        if missing:
            raise UserError(
                f"{source} holds no {', '.join(missing)}; it was saved by a run with other features, "
                "so resume it with the ganforge version and config that wrote it"
            )
        for name, component in self.components.items():
            if name in state:
                try:
                    component.load_state_dict(state[name])
                except torch.OutOfMemoryError:
                    raise
                except (RuntimeError, ValueError, KeyError, IndexError, TypeError, AttributeError) as e:
                    raise mismatch(source, name, e, state.get("config"), config or {}) from None


def upgrade_checkpoint(state: dict[str, Any]) -> dict[str, Any]:
    """Read a checkpoint of ganforge 0.1: no data position (one batch a step) and no monitor window."""
    state = dict(state)
    state.setdefault("progress", {"step": state.get("step", 0), "batches": state.get("step", 0)})
    state.setdefault("monitor", {})
    return state
