"""Files that are never half-written, and run files read without following links out of the run.

- `atomic_write`: every file ganforge rewrites (config.json, checkpoints, eval results, the report, sample
  grids, plots, the rewritten metrics and events) goes to a temporary file with a unique name beside it,
  is flushed to the disk, renamed over the old one, and the folder is flushed: a reader, a kill or a full
  disk sees the old file or the new one, never a mix. A write that fails raises the OS error (also where
  torch.save reports it as a RuntimeError) and leaves the old file as it was.
- `append_lines`: the JSON-lines files grow by whole lines only: a line cut off by a kill is dropped before
  the next append, and an append that fails is cut back.
- `read_inside`: a run's file read only where it stays inside the run (a link out of it is refused), for
  what is shown to others (the report).
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_FILE_MODE = 0o666 & ~_umask()  # what open() would give a new file: mkstemp's files are private (0600)


def fsync_path(path: Path) -> None:
    """Flush an existing file, or a folder (which makes a rename in it durable), to the disk; a no-op for
    a missing one or where folders cannot be opened."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class _Recording:
    """A binary file that remembers the OS error of a failed write: torch.save turns one into a
    RuntimeError ('unexpected pos'), and the caller needs to know that it was the disk."""

    def __init__(self, f: IO[bytes]):
        self.f, self.error = f, None

    def write(self, data: Any) -> int:
        try:
            return self.f.write(data)
        except OSError as e:
            self.error = e
            raise

    def flush(self) -> None:
        self.f.flush()

    def tell(self) -> int:
        return self.f.tell()

    def seek(self, offset: int, whence: int = 0) -> int:
        return self.f.seek(offset, whence)


def atomic_write(path: Path, content: bytes | str | Callable[[IO[bytes]], Any]) -> Path:
    """Write `content` (bytes, text, or a function that writes to a binary file) to `path`, whole or not
    at all. On an error the previous file stays as it was and no temporary file is left."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    tmp = Path(name)
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), _FILE_MODE)
            out = _Recording(f)
            try:
                if callable(content):
                    content(out)  # type: ignore[arg-type]
                else:
                    out.write(content.encode() if isinstance(content, str) else content)
                f.flush()
            except OSError:
                raise
            except Exception as e:
                if out.error is not None:  # the library's own error for a failed write
                    raise out.error from e
                raise
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_path(path.parent)
    return path


def _whole_length(fd: int, size: int) -> int:
    """The length of a file's whole lines: up to and including its last newline."""
    end = size
    while end > 0:
        n = min(1 << 16, end)
        chunk = os.pread(fd, n, end - n)
        i = chunk.rfind(b"\n")
        if i >= 0:
            return end - n + i + 1
        end -= n
    return 0


def append_lines(path: Path, lines: list[str]) -> None:
    """Append `lines` (each ending in a newline) to `path`. A line cut off at the end of the file (a kill
    while it was written) is dropped first; a write that fails (a full disk) is cut back and raised, so
    the file always holds whole lines. (Flushed to the disk by `fsync_path`, before each checkpoint.)"""
    data = "".join(lines).encode()
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o666)
    try:
        start = _whole_length(fd, os.fstat(fd).st_size)
        if start < os.fstat(fd).st_size:
            os.ftruncate(fd, start)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
        except OSError:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, start)
            raise
    finally:
        os.close(fd)


def read_inside(root: Path, path: Path) -> bytes | None:
    """The bytes of a file of the run `root`, or None where it is missing, not a regular file, or a link
    that leads out of the run (its content must not reach a page meant to be shared)."""
    try:
        real, base = Path(path).resolve(), Path(root).resolve()
    except (OSError, RuntimeError):  # a link loop
        return None
    if base not in real.parents:
        return None
    try:  # the resolved path holds no link; one swapped in since is not followed
        fd = os.open(real, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        with os.fdopen(os.dup(fd), "rb") as f:
            return f.read()
    except OSError:
        return None
    finally:
        os.close(fd)
