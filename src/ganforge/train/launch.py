"""Starting and resuming a training run: the folder claimed under its lock before anything is written, the
processes of a torchrun run joined, the trainer built and fitted, the lock released however the run ends.
`ganforge.train` (api.py) calls these."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

from ..config import Config, apply_overrides
from ..config.flags import FLAG_OF
from ..data import PAIRED, UNCONDITIONAL
from ..errors import UserError
from ..files import append_lines
from ..runs.checkpoint import find_checkpoint, load_checkpoint
from ..runs.folder import NewRun, RunLock, default_run_name
from ..runs.outputs import check_free_space
from ..runs.rollback import roll_back
from ..runs.run import Run, open_run, save_config
from .distributed import broadcast_object, leave
from .loop import Trainer
from .runtime import Runtime


def start_run(cfg: Config, out: Path | None, quiet: bool, command: str) -> Run:
    """Train `cfg` in a new folder (`out`, or runs/PRESET-TIME)."""
    cfg = absolute_data_paths(cfg)
    runtime = _join(cfg)
    claim = NewRun(out, default_run_name(cfg.preset or cfg.model.family))
    run_dir = _on_main(runtime, claim.__enter__)  # created, locked, checked empty: before anything is written
    try:
        trainer = Trainer(cfg, run_dir, quiet=quiet, runtime=runtime)
    except BaseException:
        if runtime.is_main:
            claim.abandon()  # a run that failed to start leaves no folder of its own behind
        raise
    try:
        return _fit(trainer, command)
    finally:
        claim.__exit__(None, None, None)  # the lock is released however the run ends


def resume_run(run_dir: Path, changes: dict[str, Any], quiet: bool, command: str, checkpoint: str | None) -> Run:
    """Go on with a run from its newest whole checkpoint, or roll back to `checkpoint`; `changes` are the
    config keys a resume may change (the length of the run, the events that stop it)."""
    run_dir, cfg = open_run(run_dir)
    if changes:
        cfg = apply_overrides(cfg, changes, FLAG_OF)
    runtime = _join(cfg)
    if runtime.is_main:
        check_free_space(run_dir, f"free some space before resuming {run_dir}")
    with RunLock(run_dir) if runtime.is_main else contextlib.nullcontext():
        start = None
        if checkpoint is not None:
            chosen = find_checkpoint(run_dir, checkpoint, own_only=True)
            start = (chosen, load_checkpoint(chosen), [])
        trainer = Trainer(cfg, run_dir, resume=True, quiet=quiet, runtime=runtime, start=start)
        if start is not None and runtime.is_main:  # the networks fit: only now is anything moved
            note = roll_back(run_dir, start[0], start[1]["step"])
            trainer.start_notes += [note] if note else []
        if runtime.is_main:
            save_config(cfg, run_dir)
        return _fit(trainer, command)


def _on_main(runtime: Runtime, action: Any) -> Any:
    """`action()` on the main process, its result on every process; an error there is raised on all."""
    result, error = None, None
    if runtime.is_main:
        try:
            result = action()
        except UserError as e:
            error = str(e)
    result, error = broadcast_object((result, error))
    if error is not None:
        raise UserError(error)
    return result


def absolute_data_paths(cfg: Config) -> Config:
    """Data folders as absolute paths, so that the run resumes and evaluates from any working directory."""
    given = {k: getattr(cfg.data, k.split(".")[1]) for k in ("data.name", "data.val_name")}
    builtin = {*UNCONDITIONAL, *PAIRED, "shapes"}
    found = {
        k: str(Path(v).expanduser().resolve())
        for k, v in given.items()
        if v and v not in builtin and Path(v).expanduser().exists()
    }
    return apply_overrides(cfg, found) if found else cfg


def _join(cfg: Config) -> Runtime:
    """The run's runtime; under torchrun this joins the run's processes, before anything is written."""
    return Runtime.from_config(cfg)


def _fit(trainer: Trainer, command: str) -> Run:
    try:
        if trainer.world.is_main:
            path = trainer.layout.command
            trainer.monitor.attempt(path, lambda: append_lines(path, [command + "\n"]))
        return trainer.fit()
    finally:
        for hook in trainer.hooks.values():  # after fit's last word (on_stop), however it ended
            hook.close()
        if trainer.world.size > 1:
            leave()
