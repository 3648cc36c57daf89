import hashlib
import io
import tarfile
from pathlib import Path

import pytest
from PIL import Image

from ganforge.data import facades
from ganforge.data.facades import download_facades
from ganforge.errors import UserError


def _jpeg(size: tuple[int, int] = (512, 256)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (120, 60, 30)).save(buffer, format="JPEG")
    return buffer.getvalue()


def _build_archive(path: Path, extra: dict[str, bytes] | None = None, size=(512, 256), splits=("train", "val", "test")):
    members = {f"facades/{split}/{i}.jpg": _jpeg(size) for split in splits for i in (1, 2)}
    members.update(extra or {})
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w:gz") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return hashlib.md5(path.read_bytes()).hexdigest()


def test_download_facades(tmp_path, monkeypatch):
    server = tmp_path / "server"
    md5 = _build_archive(server / "facades.tar.gz")
    monkeypatch.setattr(facades, "FACADES_MD5", md5)
    cache = tmp_path / "cache"
    folder = download_facades(cache=cache, base_url=server.as_uri())
    assert folder == cache / "facades"
    for split in ("train", "val", "test"):
        assert sorted(p.name for p in (folder / split).iterdir()) == ["1.jpg", "2.jpg"]
    assert sorted(p.name for p in cache.iterdir() if p.suffix != ".lock") == [
        "facades",
        "facades.tar.gz",
    ]  # no temp folders left

    (server / "facades.tar.gz").unlink()
    assert download_facades(cache=cache, base_url=server.as_uri()) == folder


def test_download_facades_wrong_checksum(tmp_path, monkeypatch):
    server = tmp_path / "server"
    _build_archive(server / "facades.tar.gz")
    monkeypatch.setattr(facades, "FACADES_MD5", "0" * 32)
    with pytest.raises(UserError, match="facades.tar.gz"):
        download_facades(cache=tmp_path / "cache", base_url=server.as_uri())
    assert not (tmp_path / "cache" / "facades").exists()
    assert not (tmp_path / "cache" / "facades.tar.gz").exists()


def test_download_facades_rejects_traversal(tmp_path, monkeypatch):
    server = tmp_path / "server"
    md5 = _build_archive(server / "facades.tar.gz", extra={"../../evil.txt": b"evil"})
    monkeypatch.setattr(facades, "FACADES_MD5", md5)
    cache = tmp_path / "a" / "cache"
    with pytest.raises(UserError, match="unsafe"):
        download_facades(cache=cache, base_url=server.as_uri())
    assert not (tmp_path / "evil.txt").exists() and not (tmp_path / "a" / "evil.txt").exists()
    assert not (cache / "facades").exists()


@pytest.mark.parametrize(
    ("kwargs", "message"), [({"size": (300, 256)}, "300x256"), ({"splits": ("train", "test")}, "facades/val")]
)
def test_download_facades_checks_layout(tmp_path, monkeypatch, kwargs, message):
    server = tmp_path / "server"
    monkeypatch.setattr(facades, "FACADES_MD5", None)
    _build_archive(server / "facades.tar.gz", **kwargs)
    with pytest.raises(UserError, match=message):
        download_facades(cache=tmp_path / "cache", base_url=server.as_uri())
    assert not (tmp_path / "cache" / "facades").exists()
    assert [p.name for p in (tmp_path / "cache").iterdir() if p.suffix != ".lock"] == ["facades.tar.gz"]


def test_download_facades_unreachable(tmp_path):
    missing = (tmp_path / "nowhere").as_uri()
    with pytest.raises(UserError) as info:
        download_facades(cache=tmp_path / "cache", base_url=missing)
    assert missing in str(info.value) and str(tmp_path / "cache" / "facades.tar.gz") in str(info.value)


def test_incomplete_existing_folder(tmp_path):
    (tmp_path / "facades" / "train").mkdir(parents=True)
    with pytest.raises(UserError, match="incomplete"):
        download_facades(cache=tmp_path)


def test_default_source():
    assert facades.FACADES_URLS[0] == "http://efrosgans.eecs.berkeley.edu/pix2pix/datasets/facades.tar.gz"
    assert facades.FACADES_MD5 is not None and len(facades.FACADES_MD5) == 32
