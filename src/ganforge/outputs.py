"""Output paths that never replace what a command reads: checked before the first file is written."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from .errors import UserError


def _identity(path: Path) -> tuple[int, int] | None:
    """(device, inode) of an existing file: the same file whatever the path's case, links or `..`."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def check_folder(folder: Path, option: str) -> None:
    if folder.exists() and not folder.is_dir():
        raise UserError(f"{option} {folder} is a file; give a folder for the outputs")


def check_outputs(outputs: Iterable[tuple[Path, Path]], protected: Iterable[Path], option: str) -> None:
    """`outputs` pairs each output file with what it is made from (an input file, or a description).

    Refuses two outputs on one path, and any output that is one of the protected files (the inputs)."""
    keep = {key for key in map(_identity, protected) if key is not None}
    seen: dict[Path, Path] = {}
    for dest, source in outputs:
        if _identity(dest) in keep:
            raise UserError(
                f"{option} would write {dest} over an input file; choose an {option} path apart from the inputs"
            )
        where = dest.resolve()
        if where in seen:
            raise UserError(
                f"{seen[where]} and {source} would both be written to {dest}; rename one of them "
                "or translate them separately"
            )
        seen[where] = source


def run_files(run_dir: Path) -> list[Path]:
    """The files of a run directory that commands read: its config, metrics, events, log, command,
    checkpoints and feature extractor."""
    named = [run_dir / name for name in ("config.json", "metrics.jsonl", "events.jsonl", "log.txt", "command.txt")]
    kept = [*(run_dir / "checkpoints").glob("*"), *(run_dir / "features").glob("*")]
    return [p for p in named if p.exists()] + sorted(kept)
