"""Who may write a run folder: a new run claims its folder before anything is written to it, and a
process that trains a run holds its lock for as long as it trains.

- `RunLock`: RUN_DIR/train.lock, an OS file lock (released when the process ends, however it ends).
- `claim_new_run`: the folder of a new run is created (or found empty), locked, and checked again under
  the lock: of two processes started on one folder, one trains and the other is refused before it has
  written a byte. Without `--out`, the default runs/NAME-TIMESTAMP is created exclusively, with a suffix
  -2, -3 ... where a folder of that name exists, so runs started in the same second get folders of their own.
"""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path

from ..errors import UserError
from .layout import LOCK, RunLayout
from .outputs import check_run_folder


class RunLock:
    """An exclusive lock on a run folder (RUN_DIR/train.lock), held while a process trains the run."""

    def __init__(self, run_dir: Path):
        self.path = RunLayout(Path(run_dir)).lock
        self._file = None

    def __enter__(self) -> RunLock:
        try:
            import fcntl
        except ImportError:  # not POSIX: no lock
            return self
        self.path.parent.mkdir(parents=True, exist_ok=True)
        for _ in range(10):
            f = self.path.open("a+")
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                f.seek(0)
                holder = f.read().strip() or "another process"
                f.close()
                raise UserError(
                    f"{self.path.parent} is being trained by {holder} (lock {self.path}); wait for it to finish "
                    "or stop it, then resume"
                ) from None
            if _same_file(f.fileno(), self.path):  # not a lock file that its holder removed meanwhile
                break
            f.close()
        else:
            raise UserError(f"could not lock {self.path}: it keeps being replaced; is another program using it?")
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

    def release_and_remove(self) -> None:
        """Remove the lock file, then release it (a run that never started leaves no lock behind)."""
        self.path.unlink(missing_ok=True)
        self.__exit__()


def _same_file(fd: int, path: Path) -> bool:
    try:
        a, b = os.fstat(fd), os.stat(path)
    except OSError:
        return False
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


class NewRun:
    """The claim on a new run's folder (a context manager that gives the folder): created or found empty,
    locked, checked empty under the lock. `abandon()` undoes the claim of a run that failed before it
    wrote anything: the lock file goes, and the folder too where this claim created it."""

    def __init__(self, out: Path | None, default_name: str, runs: Path = Path("runs")):
        self.out, self.default_name, self.runs = out, default_name, runs
        self.folder: Path | None = None
        self.created = False
        self.lock: RunLock | None = None

    def __enter__(self) -> Path:
        if self.out is None:
            check_run_folder(self.runs / self.default_name, new=False)  # taken names get a suffix
            self.folder = _create_unique(self.runs, self.default_name)
            self.created = True
        else:
            self.folder = Path(self.out)
            check_run_folder(self.folder)
            try:
                self.folder.mkdir(parents=True)
                self.created = True
            except FileExistsError:
                self.created = False
        self.lock = RunLock(self.folder).__enter__()
        others = sorted(p.name for p in self.folder.iterdir() if p.name != LOCK)
        if others:
            self.lock.__exit__()
            raise UserError(
                f"output folder {self.folder} is not empty (another process started a run in it: "
                f"{', '.join(others[:3])}); continue it with --resume {self.folder} or choose another --out"
            )
        return self.folder

    def __exit__(self, *exc: object) -> None:
        if self.lock is not None:
            self.lock.__exit__()

    def abandon(self) -> None:
        """Undo the claim where nothing but the lock was written."""
        if self.lock is None or self.folder is None:
            return
        if any(p.name != LOCK for p in self.folder.iterdir()):
            self.lock.__exit__()
            return
        self.lock.release_and_remove()
        if self.created:
            with contextlib.suppress(OSError):
                self.folder.rmdir()


def default_run_name(stem: str) -> str:
    return f"{stem}-{time.strftime('%Y%m%d-%H%M%S')}"


def _create_unique(parent: Path, name: str) -> Path:
    """parent/name, or parent/name-2, -3 ...: the first that this process creates itself."""
    parent.mkdir(parents=True, exist_ok=True)
    for i in range(1, 10_000):
        folder = parent / (name if i == 1 else f"{name}-{i}")
        try:
            folder.mkdir()
            return folder
        except FileExistsError:
            continue
    raise UserError(f"{parent} holds 10,000 runs named {name}-*; give --out")
