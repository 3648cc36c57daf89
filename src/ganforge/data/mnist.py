"""MNIST and Fashion-MNIST: the IDX file format, downloading the standard files, and a tensor data set."""

from __future__ import annotations

import gzip
import numbers
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ganforge.data.base import ImageDataset
from ganforge.data.download import cache_dir, fetch
from ganforge.errors import UserError

# IDX type codes (third byte of the magic number) and their big-endian numpy types.
_IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_GZIP_MAGIC = b"\x1f\x8b"


@dataclass(frozen=True)
class IDXFile:
    filename: str
    md5: str


@dataclass(frozen=True)
class IDXDatasetSpec:
    """Where a data set's IDX files live: base URLs tried in order, and per split (images, labels)."""

    base_urls: tuple[str, ...]
    splits: Mapping[str, tuple[IDXFile, IDXFile]]


def _standard_splits(md5s: Sequence[str]) -> dict[str, tuple[IDXFile, IDXFile]]:
    train_images, train_labels, test_images, test_labels = md5s
    return {
        "train": (
            IDXFile("train-images-idx3-ubyte.gz", train_images),
            IDXFile("train-labels-idx1-ubyte.gz", train_labels),
        ),
        "test": (
            IDXFile("t10k-images-idx3-ubyte.gz", test_images),
            IDXFile("t10k-labels-idx1-ubyte.gz", test_labels),
        ),
    }


# MD5 sums of the published files, as listed by torchvision's MNIST and FashionMNIST data sets.
# Tests (or users behind a local mirror) may replace entries of this dict.
SPECS: dict[str, IDXDatasetSpec] = {
    "mnist": IDXDatasetSpec(
        base_urls=(
            "https://ossci-datasets.s3.amazonaws.com/mnist/",
            "http://yann.lecun.com/exdb/mnist/",
        ),
        splits=_standard_splits(
            (
                "f68b3c2dcbeaaa9fbdd348bbdeb94873",
                "d53e105ee54ea40749a09fcbcd1e9432",
                "9fb629c4189551a2d022fa330f9573f3",
                "ec29112dd5afa0611ce80d1b7f02629c",
            )
        ),
    ),
    "fashion-mnist": IDXDatasetSpec(
        base_urls=(
            "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
            "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
        ),
        splits=_standard_splits(
            (
                "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
                "25c81989df183df01b3e8a0aad5dffbe",
                "bef4ecab320f06d8554ea6380940ec79",
                "bb300cfdad3c16e7a12a480ee83cd310",
            )
        ),
    ),
}


def read_idx(path: Path) -> np.ndarray:
    """Read an IDX file (gzipped or not) into a native-endian numpy array."""
    path = Path(path)
    try:
        raw = path.read_bytes()
        if raw[:2] == _GZIP_MAGIC:
            raw = gzip.decompress(raw)
    except FileNotFoundError as exc:
        raise UserError(f"IDX file {path} does not exist: check the path or download the data set") from exc
    except (OSError, EOFError, zlib.error) as exc:
        raise UserError(f"cannot read IDX file {path} ({exc}): delete it and download it again") from exc

    if len(raw) < 4:
        raise UserError(f"IDX file {path} is truncated ({len(raw)} bytes): delete it and download it again")
    magic = int.from_bytes(raw[:4], "big")
    type_code, ndim = raw[2], raw[3]
    if raw[:2] != b"\x00\x00" or type_code not in _IDX_DTYPES or ndim == 0:
        raise UserError(
            f"{path} is not an IDX file (magic number 0x{magic:08x}, expected e.g. 0x00000803 for images "
            "or 0x00000801 for labels): delete it and download it again"
        )
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise UserError(f"IDX file {path} is truncated inside its header: delete it and download it again")
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    dtype = _IDX_DTYPES[type_code]
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    actual = len(raw) - header
    if actual != expected:
        what = "truncated" if actual < expected else "longer than its header says"
        raise UserError(
            f"IDX file {path} is {what}: shape {'x'.join(map(str, shape))} needs {expected} bytes of data, "
            f"found {actual}; delete it and download it again"
        )
    array = np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape)
    return array.astype(dtype.newbyteorder("="), copy=True)


def write_idx(path: Path, array: np.ndarray) -> None:
    """Write uint8 labels (N,) or images (N, H, W) as an IDX file, gzipped when the name ends in .gz."""
    array = np.asarray(array)
    if array.dtype != np.uint8 or array.ndim not in (1, 3):
        raise ValueError(f"write_idx: need a uint8 array of 1 or 3 dims, got {array.dtype} with shape {array.shape}")
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    data = header + np.ascontiguousarray(array).tobytes()
    path = Path(path)
    if path.name.endswith(".gz"):
        data = gzip.compress(data, mtime=0)
    path.write_bytes(data)


def _spec(name: str) -> IDXDatasetSpec:
    try:
        return SPECS[name]
    except KeyError:
        raise UserError(f"unknown data set {name!r}: choose one of {', '.join(sorted(SPECS))}") from None


def load_mnist(
    name: str,
    split: str = "train",
    cache: Path | None = None,
    base_urls: Sequence[str] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Download (once) and read an MNIST-style data set: images (N, 28, 28) uint8 and labels (N,) uint8.

    Files are cached in ``<cache>/<name>/``; ``base_urls`` replaces the spec's URLs (e.g. a local mirror).
    """
    spec = _spec(name)
    if split not in spec.splits:
        raise UserError(f"unknown split {split!r} for {name}: choose one of {', '.join(spec.splits)}")
    urls = tuple(base_urls) if base_urls is not None else spec.base_urls
    if not urls:
        raise UserError(f"no download URL for {name}: give at least one base URL")
    folder = (Path(cache) if cache is not None else cache_dir()) / name

    arrays = []
    for item in spec.splits[split]:
        candidates = [base.rstrip("/") + "/" + item.filename for base in urls]
        path = fetch(candidates[0], item.filename, md5=item.md5, cache=folder, mirrors=candidates[1:])
        arrays.append(read_idx(path))
    images, labels = arrays
    image_file, label_file = (folder / item.filename for item in spec.splits[split])
    if images.ndim != 3 or images.dtype != np.uint8:
        raise UserError(
            f"{image_file} holds {images.dtype} data of shape {images.shape}, not uint8 images (N, H, W): "
            "delete it and download it again"
        )
    if labels.ndim != 1 or len(labels) != len(images):
        raise UserError(
            f"{label_file} holds labels of shape {labels.shape} for {len(images)} images in {image_file}: "
            "delete both and download them again"
        )
    return images, labels


class IDXImageDataset(ImageDataset):
    """Gray images (N, H, W) uint8 as float32 tensors (C, S, S) in [-1, 1].

    The images are resized once, up front (bilinear, antialiased) and kept as one uint8 tensor, so an item
    is a cheap index plus a scale; resized values are rounded to 8 bits, as with resizing PIL images.
    """

    in_memory = True

    def __init__(
        self, images: np.ndarray, image_size: int = 28, channels: int = 1, labels: np.ndarray | None = None
    ) -> None:
        images = np.asarray(images)
        if images.dtype != np.uint8 or images.ndim != 3:
            raise ValueError(
                f"IDXImageDataset: need uint8 images (N, H, W), got {images.dtype} with shape {images.shape}"
            )
        if channels not in (1, 3):
            raise UserError(f"channels must be 1 or 3 for gray IDX images, got {channels}: set it to 1 or 3")
        if not isinstance(image_size, numbers.Integral) or isinstance(image_size, bool) or image_size < 1:
            raise UserError(f"image_size must be a positive integer, got {image_size!r}: set e.g. 28 or 32")
        self.image_size = int(image_size)
        self.channels = channels
        data = torch.from_numpy(np.ascontiguousarray(images)).unsqueeze(1)  # (N, 1, H, W) uint8
        if data.shape[-2:] != (self.image_size, self.image_size):
            data = _resize_uint8(data, self.image_size)
        self._data = data
        self.labels = torch.from_numpy(np.asarray(labels).astype(np.int64)) if labels is not None else None

    def __len__(self) -> int:
        return self._data.shape[0]

    def __getitem__(self, index: int) -> torch.Tensor:
        image = self._data[index].to(torch.float32).div_(127.5).sub_(1.0)
        if self.channels == 3:
            image = image.repeat(3, 1, 1)
        return image


def _resize_uint8(data: torch.Tensor, size: int, chunk: int = 4096) -> torch.Tensor:
    out = torch.empty((data.shape[0], 1, size, size), dtype=torch.uint8)
    for start in range(0, data.shape[0], chunk):
        batch = data[start : start + chunk].to(torch.float32)
        resized = F.interpolate(batch, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
        out[start : start + chunk] = resized.round_().clamp_(0, 255).to(torch.uint8)
    return out
