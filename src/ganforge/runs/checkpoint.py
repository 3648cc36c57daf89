"""Checkpoints: written atomically (files.atomic_write: a temporary file, flushed to the disk, renamed
into place, the folder flushed too), so that a crash, a kill or a full disk during saving never leaves a
broken `latest.pt`; read back with `weights_only=True`, so that a checkpoint cannot run code.

A resumed run starts from the newest whole checkpoint (`resume_point`): latest.pt, or where it is missing
or damaged, the newest step_*.pt that reads; an unsafe file is never passed over silently.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path
from typing import Any

import torch

from ..config.upgrade import upgrade
from ..errors import UserError
from ..files import atomic_write
from .layout import LATEST, STEP_FILE, RunLayout, step_name


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """Write `state` to `path`, whole or not at all: on an error (a full disk: an OSError, also where
    torch.save reports it otherwise) the previous file stays."""
    atomic_write(path, lambda f: torch.save(state, f))


class DamagedCheckpoint(UserError):
    """A checkpoint file that is empty, cut short or otherwise unreadable (not one that is unsafe)."""


def load_checkpoint(path: Path) -> dict[str, Any]:
    """A checkpoint as ganforge wrote it: a dict with an integer `step`; else a UserError in one line
    (`DamagedCheckpoint` for an empty, truncated or corrupt file)."""
    if not path.is_file():
        raise UserError(f"checkpoint {path} does not exist; is {path.parent.parent} a finished or running run?")
    if path.stat().st_size == 0:
        raise DamagedCheckpoint(f"checkpoint {path} is empty (0 bytes); resume from a kept checkpoints/step_*.pt")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch's notes on pickle protocols: the error below says it all
            state = torch.load(path, map_location="cpu", weights_only=True)
    except torch.OutOfMemoryError:
        raise
    except Exception as e:  # a truncated, foreign or unsafe file
        text = str(e)
        if "unsupported global" in text.lower():
            raise UserError(
                f"checkpoint {path} holds Python objects that only unpickling code could rebuild; ganforge does "
                "not load such files, since they can run code: use a checkpoint written by ganforge"
            ) from None
        if "weights only load failed" in text.lower():
            raise DamagedCheckpoint(
                f"checkpoint {path} is not one ganforge wrote (corrupt, or another program's pickle, which could "
                "run code); it was not loaded: use a checkpoint written by ganforge"
            ) from None
        first = (text.splitlines() or [type(e).__name__])[0]
        raise DamagedCheckpoint(f"cannot read checkpoint {path}: {first}; it may be corrupt or truncated") from None
    step = state.get("step") if isinstance(state, dict) else None
    if not isinstance(step, int) or isinstance(step, bool) or step < 0:
        held = type(state).__name__ if not isinstance(state, dict) else "no step count"
        raise DamagedCheckpoint(f"checkpoint {path} is not one ganforge wrote (it holds {held}); it was not used")
    return state


def checkpoint_step(path: Path) -> int | None:
    """The step of a checkpoint, read without loading its tensors into memory (None if unreadable)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            state = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception:
        return None
    step = state.get("step") if isinstance(state, dict) else None
    return step if isinstance(step, int) and not isinstance(step, bool) else None


def step_files(folder: Path) -> list[tuple[int, Path]]:
    """The kept step_*.pt of a checkpoints folder with their steps (from their names), newest first."""
    found = [(int(m.group(1)), p) for p in folder.glob("step_*.pt") if (m := STEP_FILE.fullmatch(p.name))]
    return sorted(found, reverse=True)


def resume_point(run_dir: Path) -> tuple[Path, dict[str, Any], list[str]] | None:
    """The newest whole checkpoint of a run, its state, and notes on newer files passed over: latest.pt,
    else the newest step_*.pt that reads. None for a run that never saved a checkpoint. A damaged file is
    passed over (and named in the notes); an unsafe one stops the resume."""
    run = RunLayout(run_dir)
    candidates = [run.latest] if run.latest.is_file() else []
    candidates += [p for _, p in step_files(run.checkpoints)]
    notes, errors = [], []
    for path in candidates:
        try:
            state = load_checkpoint(path)
        except DamagedCheckpoint as e:
            errors.append(str(e))
            continue
        if path.name != LATEST:
            why = "; ".join(errors) if errors else "checkpoints/latest.pt is missing"
            notes.append(f"note: resuming from {path.name}, the newest whole checkpoint ({why})")
        return path, state, notes
    if errors:
        raise UserError(f"no checkpoint of {run_dir} can be read: {errors[0]}")
    return None


def load_weights(net: torch.nn.Module, weights: dict[str, Any], source: Path, state: dict, config: dict) -> None:
    """`net.load_state_dict(weights)`, where a mismatch (a run config edited by hand after training) is one
    line that names the config keys that changed."""
    try:
        net.load_state_dict(weights)
    except (RuntimeError, ValueError, KeyError, TypeError, AttributeError) as e:
        raise mismatch(source, "generator", e, state.get("config"), config) from None


# The config keys that shape the networks: a checkpoint fits a config that agrees with its own on these.
SHAPING_KEYS = ("model.", "data.channels", "data.in_channels", "data.image_size")


def mismatch(source: Path | str, part: str, error: BaseException, saved: Any, config: dict) -> UserError:
    """The error for a checkpoint that does not fit the networks or optimisers its run's config describes."""
    part = {"g": "generator", "d": "discriminator"}.get(part, part)
    detail = " ".join(str(error).split())[:160]
    changed = []
    if isinstance(saved, dict):
        saved = upgrade(dict(saved), str(source))
        changed = [c for c in config_changes(saved, config) if c.startswith(SHAPING_KEYS)]
    if changed:
        return UserError(
            f"{source} does not fit this run's {part} ({detail}...): it was written with another config "
            f"({'; '.join(changed[:4])}); restore those keys in config.json, or use the checkpoint's own run"
        )
    return UserError(f"{source} does not fit this run's {part} ({detail}...): it was written by another run or version")


def config_changes(saved: dict, current: dict, prefix: str = "") -> list[str]:
    """'key: saved value in the checkpoint, current value now' for each key whose value differs between two
    config dicts (keys that one of them lacks are not compared)."""
    changes = []
    for key in sorted(set(saved) & set(current)):
        a, b = saved[key], current[key]
        if isinstance(a, dict) and isinstance(b, dict):
            changes += config_changes(a, b, f"{prefix}{key}.")
        elif a != b:
            changes.append(f"{prefix}{key}: {a!r} in the checkpoint, {b!r} now")
    return changes


def find_checkpoint(run_dir: Path, name: str | Path | None, own_only: bool = False) -> Path:
    """The checkpoint that `name` names: latest (also None), best, step_N or step_000000N, another name in
    the run's checkpoints/ folder, or (unless `own_only`, as a rollback asks) any checkpoint file."""
    folder = RunLayout(run_dir).checkpoints
    given = Path(name if name is not None else LATEST)
    match = re.fullmatch(r"step_?(\d+)", given.stem)
    named = ([folder / step_name(int(match.group(1)))] if match else []) + [folder / f"{given.stem}.pt"]
    candidates = [*named, given] if own_only else [given, *named]  # a file as given comes first for `load`
    for path in candidates:
        if path.is_file() and (not own_only or path.resolve().parent == folder.resolve()):
            return path
    kept = ", ".join(sorted(p.stem for p in folder.glob("*.pt"))) or "none"
    if own_only:
        raise UserError(f"--checkpoint {name}: no such checkpoint of {run_dir}; give one of its own: {kept}")
    raise UserError(f"no checkpoint {str(name)!r} in {run_dir}; give a file or one of: {kept}")
