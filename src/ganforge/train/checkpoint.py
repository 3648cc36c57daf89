"""Checkpoints: written atomically (a temporary file, flushed to the disk, renamed into place, the folder
flushed too), so that a crash, a kill or a full disk during saving never leaves a broken `latest.pt`; read
back with `weights_only=True`, so that a checkpoint cannot run code.

`RunLock` keeps two processes from training one run folder at once.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

import torch

from ..errors import UserError


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """Write `state` to `path`, whole or not at all: on an error (a full disk) the previous file stays."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    try:
        with tmp.open("wb") as f:
            torch.save(state, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_folder(path.parent)


def _fsync_folder(folder: Path) -> None:
    """Make the rename itself durable (POSIX; a no-op where folders cannot be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def load_checkpoint(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise UserError(f"checkpoint {path} does not exist; is {path.parent.parent} a finished or running run?")
    if path.stat().st_size == 0:
        raise UserError(f"checkpoint {path} is empty (0 bytes); resume from a kept checkpoints/step_*.pt instead")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch's notes on pickle protocols: the error below says it all
            return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # a truncated, foreign or unsafe file
        text = str(e)
        if "unsupported global" in text.lower():
            raise UserError(
                f"checkpoint {path} holds Python objects that only unpickling code could rebuild; ganforge does "
                "not load such files, since they can run code: use a checkpoint written by ganforge"
            ) from None
        if "weights only load failed" in text.lower():
            raise UserError(
                f"checkpoint {path} is not one ganforge wrote (corrupt, or another program's pickle, which could "
                "run code); it was not loaded: use a checkpoint written by ganforge"
            ) from None
        first = (text.splitlines() or [type(e).__name__])[0]
        raise UserError(f"cannot read checkpoint {path}: {first}; it may be corrupt or truncated") from None


def load_weights(net: torch.nn.Module, weights: dict[str, Any], source: Path, state: dict, config: dict) -> None:
    """`net.load_state_dict(weights)`, where a mismatch (a run config edited by hand after training) is one
    line that names the config keys that changed."""
    try:
        net.load_state_dict(weights)
    except (RuntimeError, ValueError, KeyError) as e:
        raise mismatch(source, "generator", e, state.get("config"), config) from None


# The config keys that shape the networks: a checkpoint fits a config that agrees with its own on these.
SHAPING_KEYS = ("model.", "data.channels", "data.in_channels", "data.image_size")


def mismatch(source: Path | str, part: str, error: BaseException, saved: Any, config: dict) -> UserError:
    """The error for a checkpoint that does not fit the networks or optimisers its run's config describes."""
    part = {"g": "generator", "d": "discriminator"}.get(part, part)
    detail = " ".join(str(error).split())[:160]
    changed = []
    if isinstance(saved, dict):
        from ..config_upgrade import upgrade

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


class RunLock:
    """An exclusive lock on a run folder (RUN_DIR/train.lock, an OS file lock that a killed process
    releases by dying), held while a process trains the run."""

    def __init__(self, run_dir: Path):
        self.path = Path(run_dir) / "train.lock"
        self._file = None

    def __enter__(self) -> RunLock:
        try:
            import fcntl
        except ImportError:  # not POSIX: no lock
            return self
        self.path.parent.mkdir(parents=True, exist_ok=True)
        f = self.path.open("a+")
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            f.seek(0)
            holder = f.read().strip() or "another process"
            f.close()
            raise UserError(
                f"{self.path.parent} is being trained by {holder} (lock {self.path}); wait for it to finish or "
                "stop it, then resume"
            ) from None
        f.seek(0)
        f.truncate()
        f.write(f"process {os.getpid()}")
        f.flush()
        self._file = f
        return self

    def __exit__(self, *exc: object) -> None:
        if self._file is not None:
            self._file.close()  # closing releases the lock
            self._file = None
