"""Downloading data set files into a local cache, with checksums, mirrors and safe archive extraction."""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import http.client
import os
import shutil
import sys
import tarfile
import tempfile
import urllib.error
import urllib.request
import zipfile
import zlib
from collections.abc import Iterator, Sequence
from pathlib import Path, PurePosixPath, PureWindowsPath

from tqdm import tqdm

from ganforge.errors import UserError, one_line

DEFAULT_TIMEOUT = 30.0
_CHUNK = 1 << 20
_USER_AGENT = "ganforge (+https://pypi.org/project/ganforge/)"
_TAR_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz")


def cache_dir() -> Path:
    """The folder downloads go to: ``$GANFORGE_CACHE`` if set, else ``~/.cache/ganforge``."""
    env = os.environ.get("GANFORGE_CACHE")
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "ganforge"


def file_digest(path: Path, algorithm: str) -> str:
    """Hex digest of a file's contents, e.g. ``file_digest(p, "sha256")``."""
    digest = hashlib.new(algorithm, usedforsecurity=False)
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _expected(sha256: str | None, md5: str | None) -> dict[str, str]:
    expected = {}
    if sha256:
        expected["sha256"] = sha256.strip().lower()
    if md5:
        expected["md5"] = md5.strip().lower()
    return expected


def _mismatches(digests: dict[str, str], expected: dict[str, str]) -> list[str]:
    """An expected digest may be a prefix, as in the file names that torch.hub checks (name-<sha256[:8]>.pth)."""
    return [
        f"{name} expected {want}, got {digests[name]}"
        for name, want in expected.items()
        if not digests[name].startswith(want)
    ]


def _reason(exc: BaseException) -> str:
    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code} {one_line(exc.reason)}"
    if isinstance(exc, urllib.error.URLError):
        reason = exc.reason
        if isinstance(reason, BaseException):
            return one_line(reason) or type(reason).__name__
        return one_line(reason)
    if isinstance(exc, TimeoutError):
        return "timed out"
    return one_line(exc) or type(exc).__name__


class _ChecksumMismatch(Exception):
    pass


def _download(url: str, dest: Path, expected: dict[str, str], timeout: float) -> None:
    """Download ``url`` to a temporary file beside ``dest``, verify it, then rename it into place."""
    request = urllib.request.Request(url, headers={"User-Agent": _USER_AGENT})
    try:
        fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    except OSError as exc:
        raise UserError(
            f"cannot write to the cache folder {dest.parent} ({_reason(exc)}): set GANFORGE_CACHE to a writable folder"
        ) from exc
    tmp = Path(tmp_name)
    try:
        hashers = {name: hashlib.new(name, usedforsecurity=False) for name in expected}
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(request, timeout=timeout) as response:
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            show = bool(total) and sys.stderr.isatty()
            received = 0
            with tqdm(
                total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=dest.name, disable=not show
            ) as bar:
                while chunk := response.read(_CHUNK):
                    out.write(chunk)
                    for hasher in hashers.values():
                        hasher.update(chunk)
                    received += len(chunk)
                    bar.update(len(chunk))
        if total is not None and received != total:
            raise OSError(f"connection closed after {received} of {total} bytes")
        problems = _mismatches({name: h.hexdigest() for name, h in hashers.items()}, expected)
        if problems:
            raise _ChecksumMismatch("; ".join(problems))
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)


def fetch(
    url: str,
    filename: str,
    sha256: str | None = None,
    md5: str | None = None,
    cache: Path | None = None,
    mirrors: Sequence[str] = (),
    timeout: float = DEFAULT_TIMEOUT,
) -> Path:
    """Return the path of ``filename`` in the cache folder, downloading it first if needed.

    ``mirrors`` are complete alternative URLs of the same file, tried in order after ``url``.
    A cached file is reused only if it matches the given checksums (any file is reused when none is given).
    """
    if not filename or Path(filename).name != filename or filename in (".", ".."):
        raise ValueError(f"fetch: filename must be a plain file name, got {filename!r}")
    folder = Path(cache) if cache is not None else cache_dir()
    dest = folder / filename
    expected = _expected(sha256, md5)

    if dest.is_file() and not _mismatches({name: file_digest(dest, name) for name in expected}, expected):
        return dest

    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(
            f"cannot create the cache folder {folder} ({_reason(exc)}): set GANFORGE_CACHE to a writable folder"
        ) from exc
    with cache_lock(folder, filename):
        remove_leftovers(folder, f".{filename}.*.part")
        return _fetch_locked(dest, url, mirrors, expected, timeout)


def _fetch_locked(dest: Path, url: str, mirrors: Sequence[str], expected: dict[str, str], timeout: float) -> Path:
    filename = dest.name
    cached_mismatch: list[str] = []
    if dest.is_file():  # another process may have downloaded it while this one waited for the lock
        cached_mismatch = _mismatches({name: file_digest(dest, name) for name in expected}, expected)
        if not cached_mismatch:
            return dest

    failures: list[str] = []
    bad_checksums: list[str] = []
    for candidate in (url, *mirrors):
        try:
            _download(candidate, dest, expected, timeout)
            return dest
        except _ChecksumMismatch as exc:
            bad_checksums.append(f"{candidate} ({exc})")
        except (OSError, http.client.HTTPException, ValueError) as exc:
            failures.append(f"{candidate} ({_reason(exc)})")

    if bad_checksums:
        raise UserError(
            f"downloaded {filename} has the wrong checksum: {'; '.join(bad_checksums)}; "
            "the download was deleted; retry, or if the server changed the file, "
            f"place a verified copy at {dest}"
        )
    if cached_mismatch:
        raise UserError(
            f"the cached {dest} has the wrong checksum ({'; '.join(cached_mismatch)}) and a fresh download failed "
            f"({'; '.join(failures)}): replace it with a verified copy, or delete it and retry with a network"
        )
    raise UserError(
        f"could not download {filename} from {'; '.join(failures)}: check the network connection, "
        f"or download the file by hand and place it at {dest}"
    )


@contextlib.contextmanager
def cache_lock(folder: Path, name: str) -> Iterator[None]:
    """Hold an OS lock on folder/.NAME.lock while NAME is downloaded or extracted: a second process waits for
    the first instead of racing it, and what a process killed meanwhile left behind (its `.part` files and
    extraction folders) can be removed under the lock, since no one else is writing them."""
    try:
        import fcntl
    except ImportError:  # not POSIX: no lock
        yield
        return
    with open(folder / f".{name}.lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def remove_leftovers(folder: Path, pattern: str) -> None:
    """Remove what a killed download or extraction left in the cache (call under `cache_lock`)."""
    for path in folder.glob(pattern):
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)


def _unsafe_member(name: str) -> bool:
    if not name or "\x00" in name:
        return True
    for pure in (PurePosixPath(name), PureWindowsPath(name)):
        if pure.is_absolute() or pure.anchor or ".." in pure.parts:
            return True
    return False


def _is_tar_path(path: Path) -> bool:
    return path.name.lower().endswith(_TAR_SUFFIXES)


def extract_archive(path: Path, dest: Path) -> Path:
    """Extract a tar (optionally gzip/bz2/xz compressed) or zip archive into ``dest`` and return ``dest``.

    Every member is checked before anything is written: absolute paths, '..' components, links and
    special files are rejected, so a hostile archive cannot write outside ``dest``.
    """
    path = Path(path)
    dest = Path(dest)
    if not path.is_file():
        raise UserError(f"archive {path} does not exist: download it again")
    name = path.name.lower()
    try:
        if name.endswith(".zip") or (not _is_tar_path(path) and zipfile.is_zipfile(path)):
            _extract_zip(path, dest)
        elif _is_tar_path(path) or tarfile.is_tarfile(path):
            _extract_tar(path, dest)
        else:
            raise UserError(f"{path} is not a tar or zip archive: delete it and download it again")
    except (tarfile.TarError, zipfile.BadZipFile, gzip.BadGzipFile, EOFError, zlib.error) as exc:
        raise UserError(f"archive {path} is damaged ({_reason(exc)}): delete it and download it again") from exc
    except OSError as exc:
        raise UserError(
            f"could not extract {path} into {dest} ({_reason(exc)}): check free disk space and permissions"
        ) from exc
    return dest


def _reject(path: Path, member: str, why: str) -> UserError:
    return UserError(f"archive {path} is unsafe: member {member!r} {why}; refusing to extract it, delete the file")


def _extract_tar(path: Path, dest: Path) -> None:
    with tarfile.open(path, "r:*") as archive:
        members = archive.getmembers()
        for member in members:
            if _unsafe_member(member.name):
                raise _reject(path, member.name, "has an absolute path or '..'")
            if not (member.isfile() or member.isdir()):
                raise _reject(path, member.name, "is a link or special file")
        dest.mkdir(parents=True, exist_ok=True)
        if hasattr(tarfile, "data_filter"):
            archive.extractall(dest, members=members, filter="data")
        else:  # Python < 3.12 without the backported filters; members were checked above
            archive.extractall(dest, members=members)


def _extract_zip(path: Path, dest: Path) -> None:
    with zipfile.ZipFile(path) as archive:
        infos = archive.infolist()
        for info in infos:
            if _unsafe_member(info.filename):
                raise _reject(path, info.filename, "has an absolute path or '..'")
        dest.mkdir(parents=True, exist_ok=True)
        archive.extractall(dest, members=infos)
