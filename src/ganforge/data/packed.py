"""Packed data sets (`ganforge prepare`, data/prepare.py): images decoded, screened, oriented, resized and
cropped once, stored as uint8 arrays that training reads memory-mapped, a batch at a time.

A packed set is a folder:

    dataset.json           {"format": "ganforge-packed", "version": 1, "layout": "images" | "paired" |
                            "unpaired", "image_size", "channels", "crop", "class_names", "splits": {...}}
    train_images.npy       (N, H, W, C) uint8: the images of the split, in the source folder's order
    train_labels.npy       (N,) int64, where the set has class labels
    train_images.txt       each image's relative path without extension, one a line
    train_a.npy, train_b.npy, val_a.npy, ...  the two sides of paired or unpaired layouts

Each array is a plain NumPy `.npy` file: `numpy.load(path, mmap_mode="r")` reads it without ganforge. A set
is written into `DATA.partial/` and renamed to `DATA` only when whole, and `dataset.json` is written last,
so a half-written set is never read as one.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import UserError
from .base import ImageDataset
from .paired import SPLITS, MissingSplit
from .unpaired import UnpairedImages

FORMAT, VERSION, MANIFEST = "ganforge-packed", 1, "dataset.json"
PARTIAL = ".partial"  # the suffix of a set still being written
LAYOUT_TASK = {"images": "unconditional", "paired": "paired", "unpaired": "unpaired"}


def is_packed(path: Path) -> bool:
    """Whether `path` is a packed set, or one still being written (which opening explains)."""
    return path.is_dir() and ((path / MANIFEST).is_file() or path.name.endswith(PARTIAL))


def to_float(images: torch.Tensor, memory_format: torch.memory_format = torch.contiguous_format) -> torch.Tensor:
    """uint8 images (..., H, W, C) as float32 (..., C, H, W) in [-1, 1], the values data/images.to_tensor gives
    for the same pixels: one pass from the stored layout into `memory_format` (channels_last for a batch that
    trains so), then in place, on the images' device."""
    view = images.movedim(-1, -3)
    out = torch.empty(view.shape, dtype=torch.float32, device=view.device, memory_format=memory_format)
    return out.copy_(view).div_(127.5).sub_(1.0)


class PackedImages(ImageDataset):
    """The images of one array of a packed set, memory-mapped (opened again in each process that reads it)."""

    gathers = True  # batches come whole from `gather` (train/data_stream.py), not item by item

    def __init__(self, path: Path, names: list[str], labels: torch.Tensor | None = None, unsplit: bool = False):
        self.path, self.names, self.labels, self.unsplit = path, names, labels, unsplit
        self._array: np.ndarray | None = None
        self.shape = self.array.shape

    @property
    def array(self) -> np.ndarray:
        if self._array is None:
            try:
                self._array = np.load(self.path, mmap_mode="r")
            except (OSError, ValueError) as e:
                raise UserError(f"cannot read {self.path} ({e}); pack the data set again") from None
        return self._array

    def __getstate__(self) -> dict[str, Any]:  # loader workers map the file themselves, not a pickled copy
        return {**self.__dict__, "_array": None}

    def __len__(self) -> int:
        return self.shape[0]

    def describe(self) -> str:
        return f"{len(self)} packed images from {self.path.parent}"

    @property
    def stored_bytes(self) -> int:
        return int(np.prod(self.shape))

    def __getitem__(self, i: int) -> torch.Tensor:
        return to_float(torch.from_numpy(np.array(self.array[i])))

    def gather(self, index: list[int]) -> torch.Tensor:
        """The images at `index` as stored: uint8 (B, H, W, C)."""
        return torch.from_numpy(self.array[np.asarray(index, dtype=np.int64)])  # a copy: fancy indexing

    def whole(self) -> torch.Tensor:
        return torch.from_numpy(np.array(self.array))  # read into memory (to go to the device)


class PackedPairs(ImageDataset):
    """(input, target) pairs of a packed paired set; `direction` says which side is the input."""

    gathers = True

    def __init__(self, a: PackedImages, b: PackedImages, direction: str, root: Path, unsplit: bool):
        self.input, self.target = (a, b) if direction == "AtoB" else (b, a)
        self.direction, self.root, self.unsplit = direction, root, unsplit
        self.names = a.names

    def __len__(self) -> int:
        return len(self.input)

    def describe(self) -> str:
        source, target = ("A", "B") if self.direction == "AtoB" else ("B", "A")
        return f"{len(self)} packed pairs from {self.root}, input {source} -> target {target} ({self.direction})"

    @property
    def stored_bytes(self) -> int:
        return self.input.stored_bytes + self.target.stored_bytes

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.input[i], self.target[i]

    def gather(self, index: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        return self.input.gather(index), self.target.gather(index)

    def whole(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.input.whole(), self.target.whole()


def read_manifest(root: Path) -> dict[str, Any]:
    """The manifest of the packed set `root`; a UserError for a set that is unfinished or not one."""
    if root.name.endswith(PARTIAL) or not (root / MANIFEST).is_file():
        whole = root.name.removesuffix(PARTIAL)
        raise UserError(
            f"{root} is a packed data set that was not finished; run the same ganforge prepare command again to "
            f"finish it, then train with --data {whole}"
        )
    try:
        manifest = json.loads((root / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise UserError(f"cannot read {root / MANIFEST} ({e}); pack the data set again") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise UserError(f"{root / MANIFEST} is not a ganforge packed data set; give --data an image folder instead")
    if manifest.get("version") != VERSION:
        raise UserError(f"{root} is packed in format {manifest.get('version')}, this ganforge reads {VERSION}")
    return manifest


def open_packed(root: Path, cfg: Any, split: str) -> ImageDataset:
    """The `split` of the packed set `root` for the run `cfg`: its task, image size and channels must be the
    set's (a UserError says which to change)."""
    manifest = read_manifest(root)
    layout, d = manifest["layout"], cfg.data
    # restoration degrades images, and an upscaler downscales them: both read the images layout
    task = "unconditional" if cfg.task == "upscale" or cfg.task == "paired" and d.degrade else cfg.task
    if LAYOUT_TASK[layout] != task:
        wanted = next(k for k, v in LAYOUT_TASK.items() if v == task)
        if layout == "paired" and task == "unconditional" and cfg.task == "paired":
            raise UserError(
                f"{root} holds pairs, but this run makes its inputs from clean images (data.degrade="
                f"{d.degrade!r}): set data.degrade= (empty) to train on the pairs, or pack images with --layout images"
            )
        raise UserError(
            f"{root} is packed as {layout}, but this run trains on {wanted} data ({cfg.task} family): pack the "
            f"folder with --layout {wanted}, or train a family for {layout}"
        )
    if manifest["image_size"] != d.image_size:
        raise UserError(
            f"{root} is packed at {manifest['image_size']} px and the run trains at {d.image_size}: give "
            f"--image-size {manifest['image_size']}, or pack again with --image-size {d.image_size}"
        )
    wanted = {d.channels} | ({d.in_channels} if task == "paired" else set())
    if wanted != {manifest["channels"]}:
        key = "data.channels" + (" and data.in_channels" if task == "paired" else "")
        raise UserError(
            f"{root} is packed with {manifest['channels']} channels, the run wants {key}={min(wanted)}: set "
            f"{key}={manifest['channels']}, or pack again with --channels {min(wanted)}"
        )
    splits = manifest["splits"]
    unsplit = list(splits) == ["train"] and manifest.get("unsplit", True)
    if split not in splits:
        if not unsplit:
            raise MissingSplit(f"{root} has the split(s) {', '.join(splits)} but no {split}", list(splits))
        split = "train"
    parts = {name: _array(root, entry, manifest, unsplit) for name, entry in splits[split].items() if name != "labels"}
    if layout == "images":
        images = parts["images"]
        if "labels" in splits[split]:
            images.labels = torch.from_numpy(np.load(root / splits[split]["labels"]["file"]))
            images.class_names = manifest.get("class_names")  # type: ignore[attr-defined]
        return images
    if layout == "paired":
        direction = "AtoB" if d.direction == "auto" else d.direction
        return PackedPairs(parts["a"], parts["b"], direction, root, unsplit)
    return UnpairedImages(parts["a"], parts["b"], name=f"packed {root}", unsplit=unsplit)


def _array(root: Path, entry: dict[str, Any], manifest: dict[str, Any], unsplit: bool) -> PackedImages:
    path = root / entry["file"]
    names_file = root / entry["names"] if entry.get("names") else None
    names = names_file.read_text(encoding="utf-8").splitlines() if names_file and names_file.is_file() else []
    images = PackedImages(path, names, unsplit=unsplit)
    size, channels = manifest["image_size"], manifest["channels"]
    if images.shape != (entry["count"], size, size, channels):
        raise UserError(
            f"{path} holds {images.shape}, not the ({entry['count']}, {size}, {size}, {channels}) of {MANIFEST}: the "
            "file was changed; pack the data set again"
        )
    return images


__all__ = ["SPLITS", "PackedImages", "PackedPairs", "is_packed", "open_packed", "read_manifest", "to_float"]
