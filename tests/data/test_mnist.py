import gzip
import hashlib
import os
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from ganforge.data import mnist
from ganforge.data.mnist import IDXDatasetSpec, IDXFile, IDXImageDataset, load_mnist, read_idx, write_idx
from ganforge.errors import UserError


def _images(n: int = 20, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(n, 28, 28), dtype=np.uint8)


@pytest.mark.parametrize("name", ["imgs-idx3-ubyte", "imgs-idx3-ubyte.gz"])
def test_idx_round_trip(tmp_path, name):
    images = _images()
    labels = np.arange(20, dtype=np.uint8) % 10
    write_idx(tmp_path / name, images)
    write_idx(tmp_path / f"labels-{name}", labels)
    raw = (tmp_path / name).read_bytes()
    if name.endswith(".gz"):
        raw = gzip.decompress(raw)
    assert raw[:4] == b"\x00\x00\x08\x03"
    assert int.from_bytes(raw[4:8], "big") == 20
    np.testing.assert_array_equal(read_idx(tmp_path / name), images)
    np.testing.assert_array_equal(read_idx(tmp_path / f"labels-{name}"), labels)
    assert read_idx(tmp_path / f"labels-{name}").dtype == np.uint8


def test_read_idx_other_dtype(tmp_path):
    values = np.array([1, -2, 70000], dtype=">i4")
    (tmp_path / "x.idx").write_bytes(b"\x00\x00\x0c\x01" + (3).to_bytes(4, "big") + values.tobytes())
    out = read_idx(tmp_path / "x.idx")
    assert out.tolist() == [1, -2, 70000] and out.dtype.isnative


def test_write_idx_rejects_bad_arrays(tmp_path):
    with pytest.raises(ValueError):
        write_idx(tmp_path / "x", np.zeros((2, 2), dtype=np.float32))


def test_read_idx_bad_magic(tmp_path):
    path = tmp_path / "bad-idx3-ubyte"
    path.write_bytes(b"\x12\x34\x56\x78" + bytes(100))
    with pytest.raises(UserError) as info:
        read_idx(path)
    assert str(path) in str(info.value) and "0x12345678" in str(info.value)


@pytest.mark.parametrize("gz", [False, True])
def test_read_idx_truncated(tmp_path, gz):
    path = tmp_path / ("t.gz" if gz else "t")
    write_idx(path, _images(3))
    raw = path.read_bytes()
    raw = gzip.compress(gzip.decompress(raw)[:-10]) if gz else raw[:-10]
    path.write_bytes(raw)
    with pytest.raises(UserError, match="truncated") as info:
        read_idx(path)
    assert str(path) in str(info.value)


def test_read_idx_broken_gzip_and_missing(tmp_path):
    path = tmp_path / "t.gz"
    write_idx(path, _images(3))
    path.write_bytes(path.read_bytes()[:30])
    with pytest.raises(UserError, match=re.escape(str(path))):
        read_idx(path)
    with pytest.raises(UserError, match="does not exist"):
        read_idx(tmp_path / "missing")


def _tiny_spec(server: Path, n_train: int = 20, n_test: int = 7) -> IDXDatasetSpec:
    server.mkdir(parents=True, exist_ok=True)
    splits = {}
    for split, prefix, n in (("train", "train", n_train), ("test", "t10k", n_test)):
        files = []
        for kind, array in (
            ("images-idx3", _images(n, seed=n)),
            ("labels-idx1", np.arange(n, dtype=np.uint8) % 10),
        ):
            filename = f"{prefix}-{kind}-ubyte.gz"
            write_idx(server / filename, array)
            files.append(IDXFile(filename, hashlib.md5((server / filename).read_bytes()).hexdigest()))
        splits[split] = tuple(files)
    return IDXDatasetSpec(base_urls=(server.as_uri() + "/",), splits=splits)


def test_load_mnist_from_file_urls(tmp_path, monkeypatch):
    spec = _tiny_spec(tmp_path / "server")
    monkeypatch.setitem(mnist.SPECS, "mnist", spec)
    cache = tmp_path / "cache"
    images, labels = load_mnist("mnist", "train", cache=cache)
    assert images.shape == (20, 28, 28) and images.dtype == np.uint8
    assert labels.shape == (20,) and labels.tolist()[:3] == [0, 1, 2]
    np.testing.assert_array_equal(images, _images(20, seed=20))
    assert (cache / "mnist" / "train-images-idx3-ubyte.gz").is_file()

    test_images, test_labels = load_mnist("mnist", "test", cache=cache)
    assert test_images.shape == (7, 28, 28) and test_labels.shape == (7,)

    for f in (tmp_path / "server").iterdir():  # cached: no second download
        f.unlink()
    again, _ = load_mnist("mnist", "train", cache=cache)
    np.testing.assert_array_equal(again, images)


def test_load_mnist_mirror_and_base_urls(tmp_path, monkeypatch):
    spec = _tiny_spec(tmp_path / "server")
    dead = (tmp_path / "dead").as_uri()
    monkeypatch.setitem(mnist.SPECS, "fashion-mnist", IDXDatasetSpec((dead, *spec.base_urls), spec.splits))
    images, _ = load_mnist("fashion-mnist", cache=tmp_path / "cache")
    assert images.shape == (20, 28, 28)
    assert (tmp_path / "cache" / "fashion-mnist" / "train-labels-idx1-ubyte.gz").is_file()

    monkeypatch.setitem(mnist.SPECS, "mnist", IDXDatasetSpec((dead,), spec.splits))
    images, _ = load_mnist("mnist", cache=tmp_path / "cache2", base_urls=spec.base_urls)
    assert images.shape == (20, 28, 28)


def test_load_mnist_wrong_checksum(tmp_path, monkeypatch):
    spec = _tiny_spec(tmp_path / "server")
    images_file, labels_file = spec.splits["train"]
    bad = {**spec.splits, "train": (IDXFile(images_file.filename, "0" * 32), labels_file)}
    monkeypatch.setitem(mnist.SPECS, "mnist", IDXDatasetSpec(spec.base_urls, bad))
    with pytest.raises(UserError, match="train-images-idx3-ubyte.gz"):
        load_mnist("mnist", cache=tmp_path / "cache")
    assert not (tmp_path / "cache" / "mnist" / "train-images-idx3-ubyte.gz").exists()


def test_load_mnist_bad_name_and_split(tmp_path):
    with pytest.raises(UserError, match="fashion-mnist"):
        load_mnist("kmnist", cache=tmp_path)
    with pytest.raises(UserError, match="train"):
        load_mnist("mnist", "validation", cache=tmp_path)


def test_published_checksums():
    md5s = {name: [f.md5 for pair in spec.splits.values() for f in pair] for name, spec in mnist.SPECS.items()}
    assert md5s["mnist"][0] == "f68b3c2dcbeaaa9fbdd348bbdeb94873"
    assert md5s["fashion-mnist"][0] == "8d4fb7e6c68d591d4c3dfef9ec88bf0d"
    assert mnist.SPECS["mnist"].base_urls[0].startswith("https://ossci-datasets.s3.amazonaws.com/")
    assert all(len(m) == 32 for ms in md5s.values() for m in ms)


@pytest.mark.parametrize("size", [28, 32, 16])
@pytest.mark.parametrize("channels", [1, 3])
def test_idx_image_dataset(size, channels):
    images = _images(5)
    images[0] = 0
    images[1] = 255
    ds = IDXImageDataset(images, image_size=size, channels=channels)
    assert len(ds) == 5
    item = ds[2]
    assert item.shape == (channels, size, size) and item.dtype == torch.float32
    assert item.min() >= -1.0 and item.max() <= 1.0
    assert torch.allclose(ds[0], torch.full_like(ds[0], -1.0))
    assert torch.allclose(ds[1], torch.ones_like(ds[1]))
    if channels == 3:
        assert torch.equal(item[0], item[2])
    if size == 28:
        expected = torch.from_numpy(images[2]).float() / 127.5 - 1
        assert torch.allclose(item[0], expected)


def test_idx_image_dataset_bad_args():
    with pytest.raises(UserError, match="channels"):
        IDXImageDataset(_images(2), channels=2)
    with pytest.raises(UserError, match="image_size"):
        IDXImageDataset(_images(2), image_size=0)


def test_in_memory_data_sets_get_no_loader_workers(tmp_path):
    """Every data set declares `in_memory` (data/base.py); MNIST once got 8 workers it did not need."""
    from ganforge.data.base import ImageDataset
    from ganforge.data.builtin import digits
    from ganforge.data.folder import ImageFolder
    from ganforge.data.shapes import ShapesPairs
    from ganforge.train.data_stream import BatchStream
    from ganforge.train.runtime import Runtime
    from tests.train.test_loop import write_folder

    folder = ImageFolder(write_folder(tmp_path / "imgs", n=4), 16, 3)
    for ds in [IDXImageDataset(_images(8)), digits(28), ShapesPairs(8, 16)]:
        assert isinstance(ds, ImageDataset)
        stream = BatchStream(ds, 4, 0, Runtime(torch.device("cpu")))
        assert stream.resident is not None and not hasattr(stream, "loader"), type(ds).__name__
    stream = BatchStream(folder, 2, 0, Runtime(torch.device("cpu")))
    assert stream.resident is None and stream.loader.num_workers == min(8, os.cpu_count() or 1)
    stream.close()


def test_a_resident_data_set_gives_the_loader_s_batches():
    """Stacked on the device or loaded item by item: the same batches in the same order, pairs too."""
    from ganforge.data.shapes import ShapesPairs
    from ganforge.train.data_stream import BatchStream
    from ganforge.train.runtime import Runtime

    for ds in [IDXImageDataset(_images(12)), ShapesPairs(12, 16)]:
        resident = BatchStream(ds, 4, 3, Runtime(torch.device("cpu")), start_batch=2)
        loaded = BatchStream(ds, 4, 3, Runtime(torch.device("cpu")), start_batch=2, resident_mib=0)
        assert resident.resident is not None and loaded.resident is None
        for _ in range(7):  # across epochs
            a, b = next(resident), next(loaded)
            for x, y in zip(a if isinstance(a, tuple) else [a], b if isinstance(b, tuple) else [b], strict=True):
                assert torch.equal(x, y)
