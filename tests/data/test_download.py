import functools
import hashlib
import http.server
import io
import tarfile
import threading
import zipfile
from pathlib import Path

import pytest

from ganforge.data.download import cache_dir, extract_archive, fetch, file_digest
from ganforge.errors import UserError

PAYLOAD = b"ganforge test payload\n" * 100


def _source(tmp_path: Path, name: str = "data.bin", payload: bytes = PAYLOAD) -> Path:
    folder = tmp_path / "server"
    folder.mkdir(exist_ok=True)
    path = folder / name
    path.write_bytes(payload)
    return path


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if not p.name.endswith(".lock")) if folder.exists() else []


def test_cache_dir_env(monkeypatch, tmp_path):
    monkeypatch.setenv("GANFORGE_CACHE", str(tmp_path / "c"))
    assert cache_dir() == tmp_path / "c"
    monkeypatch.delenv("GANFORGE_CACHE")
    assert cache_dir() == Path.home() / ".cache" / "ganforge"


def test_fetch_file_url_and_cache(tmp_path):
    src = _source(tmp_path)
    cache = tmp_path / "cache"
    sha = hashlib.sha256(PAYLOAD).hexdigest()
    md5 = hashlib.md5(PAYLOAD).hexdigest()
    path = fetch(src.as_uri(), "data.bin", sha256=sha, md5=md5, cache=cache)
    assert path == cache / "data.bin"
    assert path.read_bytes() == PAYLOAD
    assert _leftovers(cache) == ["data.bin"]
    assert file_digest(path, "sha256") == sha

    src.unlink()  # a second call must not need the source
    assert fetch(src.as_uri(), "data.bin", sha256=sha, cache=cache) == path


def test_fetch_uses_env_cache(monkeypatch, tmp_path):
    src = _source(tmp_path)
    monkeypatch.setenv("GANFORGE_CACHE", str(tmp_path / "envcache"))
    assert fetch(src.as_uri(), "data.bin") == tmp_path / "envcache" / "data.bin"


def test_fetch_replaces_cached_file_with_wrong_checksum(tmp_path):
    src = _source(tmp_path)
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "data.bin").write_bytes(b"stale")
    path = fetch(src.as_uri(), "data.bin", md5=hashlib.md5(PAYLOAD).hexdigest(), cache=cache)
    assert path.read_bytes() == PAYLOAD


def test_a_cached_file_with_the_wrong_checksum_is_named_when_no_download_can_replace_it(tmp_path):
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "data.bin").write_bytes(b"stale")
    missing = (tmp_path / "nowhere" / "data.bin").as_uri()
    with pytest.raises(UserError) as info:
        fetch(missing, "data.bin", sha256=hashlib.sha256(PAYLOAD).hexdigest(), cache=cache)
    msg = str(info.value)
    assert msg.startswith(f"the cached {cache / 'data.bin'} has the wrong checksum")
    assert hashlib.sha256(b"stale").hexdigest() in msg and "could not download" not in msg
    assert (cache / "data.bin").read_bytes() == b"stale"  # the user's file is left for them to judge


def test_fetch_wrong_checksum(tmp_path):
    src = _source(tmp_path)
    cache = tmp_path / "cache"
    wrong = "0" * 64
    with pytest.raises(UserError) as info:
        fetch(src.as_uri(), "data.bin", sha256=wrong, cache=cache)
    msg = str(info.value)
    assert "data.bin" in msg and wrong in msg and hashlib.sha256(PAYLOAD).hexdigest() in msg
    assert "\n" not in msg
    assert _leftovers(cache) == []


def test_fetch_unreachable(tmp_path):
    cache = tmp_path / "cache"
    missing = (tmp_path / "nowhere" / "data.bin").as_uri()
    with pytest.raises(UserError) as info:
        fetch(missing, "data.bin", cache=cache, mirrors=["http://127.0.0.1:9/data.bin"], timeout=5)
    msg = str(info.value)
    assert missing in msg and "http://127.0.0.1:9/data.bin" in msg
    assert str(cache / "data.bin") in msg
    assert "\n" not in msg
    assert _leftovers(cache) == []


def test_fetch_mirror_fallback(tmp_path):
    src = _source(tmp_path)
    bad = (tmp_path / "nowhere" / "data.bin").as_uri()
    path = fetch(bad, "data.bin", md5=hashlib.md5(PAYLOAD).hexdigest(), cache=tmp_path / "c", mirrors=[src.as_uri()])
    assert path.read_bytes() == PAYLOAD


def test_fetch_mirror_after_bad_checksum(tmp_path):
    good = _source(tmp_path)
    corrupt = _source(tmp_path, "corrupt.bin", b"not it")
    path = fetch(
        corrupt.as_uri(),
        "data.bin",
        sha256=hashlib.sha256(PAYLOAD).hexdigest(),
        cache=tmp_path / "c",
        mirrors=[good.as_uri()],
    )
    assert path.read_bytes() == PAYLOAD


@pytest.fixture
def http_folder(tmp_path):
    """A loopback HTTP server for a temporary folder; yields (folder, base URL)."""
    folder = tmp_path / "www"
    folder.mkdir()

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield folder, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_fetch_http_404_then_mirror(tmp_path, http_folder):
    folder, base = http_folder
    (folder / "data.bin").write_bytes(PAYLOAD)
    cache = tmp_path / "cache"
    path = fetch(
        f"{base}/missing.bin",
        "data.bin",
        md5=hashlib.md5(PAYLOAD).hexdigest(),
        cache=cache,
        mirrors=[f"{base}/data.bin"],
    )
    assert path.read_bytes() == PAYLOAD
    with pytest.raises(UserError, match="HTTP 404"):
        fetch(f"{base}/missing.bin", "other.bin", cache=cache)


def _tar_bytes(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _zip_bytes(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


@pytest.mark.parametrize(("suffix", "build"), [(".tar.gz", _tar_bytes), (".zip", _zip_bytes)])
def test_extract_archive(tmp_path, suffix, build):
    archive = tmp_path / f"a{suffix}"
    archive.write_bytes(build({"top/x.txt": b"x", "top/sub/y.txt": b"y"}))
    dest = extract_archive(archive, tmp_path / "out")
    assert (dest / "top" / "x.txt").read_bytes() == b"x"
    assert (dest / "top" / "sub" / "y.txt").read_bytes() == b"y"


@pytest.mark.parametrize("bad_name", ["../evil.txt", "top/../../evil.txt", "/tmp/evil.txt", "..\\evil.txt"])
@pytest.mark.parametrize(("suffix", "build"), [(".tar.gz", _tar_bytes), (".zip", _zip_bytes)])
def test_extract_archive_rejects_traversal(tmp_path, suffix, build, bad_name):
    archive = tmp_path / f"a{suffix}"
    archive.write_bytes(build({"ok.txt": b"ok", bad_name: b"evil"}))
    out = tmp_path / "deep" / "out"
    with pytest.raises(UserError, match="unsafe"):
        extract_archive(archive, out)
    assert not out.exists()
    assert not (tmp_path / "deep" / "evil.txt").exists()


def test_extract_archive_rejects_symlink(tmp_path):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        link = tarfile.TarInfo("link")
        link.type = tarfile.SYMTYPE
        link.linkname = "/etc/passwd"
        tar.addfile(link)
    archive = tmp_path / "a.tar"
    archive.write_bytes(buffer.getvalue())
    with pytest.raises(UserError, match="link"):
        extract_archive(archive, tmp_path / "out")


def test_extract_archive_damaged(tmp_path):
    archive = tmp_path / "a.tar.gz"
    archive.write_bytes(_tar_bytes({"x.txt": b"x" * 1000})[:20])
    with pytest.raises(UserError, match="a.tar.gz"):
        extract_archive(archive, tmp_path / "out")
