"""Output paths that never replace what a command reads: checked before the first file is written."""

from __future__ import annotations

import os
import shutil
import tempfile
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


IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff", ".gif")


def check_image_file(path: Path, option: str) -> None:
    """An image file to write: not a folder, in a folder that is not a file, with an image extension."""
    if path.is_dir():
        raise UserError(f"{option} {path} is a folder; give an image file name such as grid.png")
    if path.suffix.lower() not in IMAGE_SUFFIXES:
        raise UserError(f"{option} {path} is not an image file name ({', '.join(IMAGE_SUFFIXES)}); e.g. grid.png")
    check_folder(path.parent, option)


MIN_FREE_BYTES = 64 * 2**20


def check_run_folder(run_dir: Path) -> None:
    """Refuse, before anything is trained or written, an output folder that is a file, not empty, not
    writable, or on a disk with less than MIN_FREE_BYTES free."""
    check_folder(run_dir, "--out")
    if run_dir.is_dir() and any(run_dir.iterdir()):
        raise UserError(
            f"output folder {run_dir} is not empty; continue it with --resume {run_dir} or choose another --out"
        )
    existing = next(p for p in [run_dir, *run_dir.absolute().parents] if p.exists())
    if not existing.is_dir():
        raise UserError(f"--out {run_dir}: {existing} is a file, not a folder; choose another --out")
    try:
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as e:
        raise UserError(f"cannot write in {existing} ({e.strerror}); choose another --out") from None
    free = shutil.disk_usage(existing).free
    if free < MIN_FREE_BYTES:
        raise UserError(
            f"only {free // 2**20} MB free on the disk of {existing}; free some space or choose another --out"
        )


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
