"""Output paths that never replace what a command reads: checked before the first file is written."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path

from ..errors import UserError
from .layout import LOCK, RunLayout


def _identity(path: Path) -> tuple[int, int] | None:
    """(device, inode) of an existing file: the same file whatever the path's case, links or `..`."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def check_folder(folder: Path, option: str, run_dir: Path | None = None) -> None:
    """A folder to write outputs in: not a file, under a folder (not a file) that can be written; not
    inside the run folder `run_dir`."""
    if folder.exists() and not folder.is_dir():
        raise UserError(f"{option} {folder} is a file; give a folder for the outputs")
    existing = next(p for p in [folder, *folder.absolute().parents] if p.exists())
    if not existing.is_dir():
        raise UserError(f"{option} {folder}: {existing} is a file, not a folder; choose another {option}")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise UserError(f"{option} {folder}: cannot write in {existing} (permission denied); choose another {option}")
    if run_dir is not None:
        check_outside_run(folder, run_dir, option)


def check_output_file(path: Path, option: str, run_dir: Path | None = None, default: Path | None = None) -> None:
    """A file to write: not a folder, in a folder that can be written; inside the run folder `run_dir` only
    where it is the command's own `default` there."""
    if path.is_dir():
        raise UserError(f"{option} {path} is a folder; give a file name in it, e.g. {path / 'out'}{path.suffix}")
    if path.exists() and not os.access(path, os.W_OK):
        raise UserError(f"{option} {path} cannot be written (permission denied); choose another {option}")
    check_folder(path.parent, option)
    if run_dir is not None and not (default is not None and _same_place(path, default)):
        check_outside_run(path, run_dir, option, default)


def _same_place(a: Path, b: Path) -> bool:
    return a.absolute().resolve() == b.absolute().resolve()


def check_outside_run(path: Path, run_dir: Path, option: str, default: Path | None = None) -> None:
    """Refuse a path inside a run folder: its files are the run's own (only its own default goes there)."""
    real, base = path.absolute().resolve(), run_dir.absolute().resolve()
    if real == base or base in real.parents:
        hint = f", or leave {option} out to write {default.name} there" if default is not None else ""
        raise UserError(
            f"{option} {path} is inside the run folder {run_dir}, whose files ganforge keeps; "
            f"choose a path outside it{hint}"
        )


IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff", ".gif")


def check_image_file(path: Path, option: str) -> None:
    """An image file to write: not a folder, in a folder that is not a file, with an image extension."""
    if path.is_dir():
        raise UserError(f"{option} {path} is a folder; give an image file name such as grid.png")
    if path.suffix.lower() not in IMAGE_SUFFIXES:
        raise UserError(f"{option} {path} is not an image file name ({', '.join(IMAGE_SUFFIXES)}); e.g. grid.png")
    check_output_file(path, option)


MIN_FREE_BYTES = 64 * 2**20


def check_run_folder(run_dir: Path, new: bool = True) -> None:
    """Refuse, before anything is trained or written, an output folder that is a file, not empty (`new`),
    not writable, or on a disk with less than MIN_FREE_BYTES free."""
    check_folder(run_dir, "--out")  # also: the nearest existing folder above it is a folder
    # train.lock alone: a run starting there (its lock says by whom) or one that never started
    if new and run_dir.is_dir() and any(p.name != LOCK for p in run_dir.iterdir()):
        raise UserError(
            f"output folder {run_dir} is not empty; continue it with --resume {run_dir} or choose another --out"
        )
    existing = next(p for p in [run_dir, *run_dir.absolute().parents] if p.exists())
    try:
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as e:
        raise UserError(f"cannot write in {existing} ({e.strerror}); choose another --out") from None
    check_free_space(existing, "free some space or choose another --out")


def check_free_space(folder: Path, fix: str) -> None:
    """Refuse to start work (a new run, a resume) on a disk with less than MIN_FREE_BYTES free."""
    try:
        free = shutil.disk_usage(folder).free
    except OSError:
        return
    if free < MIN_FREE_BYTES:
        raise UserError(f"only {free // 2**20} MB free on the disk of {folder}; {fix}")


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
    """The files of a run directory that commands read (runs/layout.py)."""
    return RunLayout(run_dir).read_files()
