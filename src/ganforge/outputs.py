"""Output paths that never replace what a command reads: checked before the first file is written."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from .errors import UserError


def check_outputs(outputs: Iterable[tuple[Path, Path]], protected: Iterable[Path], option: str) -> None:
    """`outputs` pairs each output file with what it is made from (an input file, or a description).

    Refuses two outputs on one path, and any output that would replace a protected file (an input)."""
    keep = {p.resolve() for p in protected}
    seen: dict[Path, Path] = {}
    for dest, source in outputs:
        where = dest.resolve()
        if where in keep:
            raise UserError(
                f"{option} would write {dest} over an input file; choose an {option} folder apart from the inputs"
            )
        if where in seen:
            raise UserError(
                f"{seen[where]} and {source} would both be written to {dest}; rename one of them "
                "or translate them separately"
            )
        seen[where] = source


def run_files(run_dir: Path) -> list[Path]:
    """The files of a run directory that commands read: its config, metrics, log and checkpoints."""
    named = [run_dir / name for name in ("config.json", "metrics.jsonl", "log.txt")]
    return [p for p in named if p.exists()] + sorted((run_dir / "checkpoints").glob("*"))
