"""Class labels for conditional training: where a data set's labels come from, and items that carry them.

- the embedded digits, MNIST and Fashion-MNIST have their own labels;
- an image folder is labelled by a `labels.csv` beside its images (rows `relative/path.png,label`, an
  optional `file,label` header), or else by its first-level subfolders, one class each (torchvision's
  ImageFolder convention: `cats/1.png`, `dogs/2.png`).
Classes are numbered in the sorted order of their names (numerically when every name is a number).
"""

from __future__ import annotations

import csv
from pathlib import Path

import torch

from ..errors import UserError
from .base import ImageDataset

LABELS_FILE = "labels.csv"
FASHION_MNIST = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                 "Ankle boot")  # fmt: skip


class Labelled(ImageDataset):
    """(image, label) items of `images`; `class_names[k]` names class k."""

    def __init__(self, images: ImageDataset, labels: torch.Tensor, class_names: list[str]):
        self.images, self.labels, self.class_names = images, labels.long(), class_names
        self.unsplit = images.unsplit
        self.in_memory = images.in_memory  # type: ignore[misc]
        self.gathers = images.gathers

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.images[i], self.labels[i]

    def describe(self) -> str:
        return f"{self.images.describe()} in {len(self.class_names)} classes"

    # a packed set's batches as stored (data/packed.py, train/data_stream.py): uint8 images and their labels
    def gather(self, index: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        return self.images.gather(index), self.labels[torch.as_tensor(index)]  # type: ignore[attr-defined]

    def whole(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.images.whole(), self.labels  # type: ignore[attr-defined]

    @property
    def stored_bytes(self) -> int:
        return self.images.stored_bytes + self.labels.numel() * self.labels.element_size()  # type: ignore[attr-defined]

    def notes(self) -> list[str]:
        return self.images.notes()


def _ordered(names: set[str]) -> list[str]:
    return sorted(names, key=int) if all(n.lstrip("-").isdigit() for n in names) else sorted(names)


def _numbered(per_image: list[str]) -> tuple[torch.Tensor, list[str]]:
    names = _ordered(set(per_image))
    index = {name: k for k, name in enumerate(names)}
    return torch.tensor([index[name] for name in per_image], dtype=torch.long), names


def _read_labels_file(path: Path, root: Path, images: list[Path]) -> tuple[torch.Tensor, list[str]]:
    table: dict[str, str] = {}
    try:
        with path.open(newline="", encoding="utf-8") as f:
            for n, row in enumerate(csv.reader(f), 1):
                if not row or (n == 1 and [c.strip().lower() for c in row[:2]] == ["file", "label"]):
                    continue
                if len(row) != 2 or not row[0].strip() or not row[1].strip():
                    raise UserError(f"{path}, line {n}: expected 'relative/path.png,label', got {','.join(row)!r}")
                table[Path(row[0].strip()).as_posix()] = row[1].strip()
    except (OSError, UnicodeDecodeError) as e:
        raise UserError(f"cannot read the labels file {path}: {e}; write it as UTF-8 rows 'file,label'") from None
    missing = [p for p in images if p.relative_to(root).as_posix() not in table]
    if missing:
        raise UserError(
            f"{path} has no label for {len(missing)} of the {len(images)} images, e.g. "
            f"{missing[0].relative_to(root).as_posix()}; add a row 'file,label' for each image"
        )
    return _numbered([table[p.relative_to(root).as_posix()] for p in images])


def folder_labels(root: Path, images: list[Path]) -> tuple[torch.Tensor, list[str]]:
    """The labels of a folder's images (module doc); a UserError that says how to give them if there are none."""
    if (root / LABELS_FILE).is_file():
        return _read_labels_file(root / LABELS_FILE, root, images)
    parts = [p.relative_to(root).parts for p in images]
    loose = [p for p, rel in zip(images, parts, strict=True) if len(rel) < 2]
    classes = {rel[0] for rel in parts if len(rel) >= 2}
    if loose or len(classes) < 2:
        why = f"{loose[0].name} lies in the folder itself" if loose else "its images are not in two or more subfolders"
        raise UserError(
            f"data folder {root} has no labels for a conditional run ({why}): put each class's images in a "
            f"subfolder of its own (cats/, dogs/...) or write {LABELS_FILE} beside them (rows 'file,label'), "
            "or train without model.conditional"
        )
    return _numbered([rel[0] for rel in parts])


def labelled(dataset: ImageDataset, name: str) -> Labelled:
    """`dataset` with its labels (module doc); a UserError naming the data set if it has none."""
    if isinstance(dataset, Labelled):
        return dataset
    root, paths = getattr(dataset, "root", None), getattr(dataset, "paths", None)
    if dataset.labels is not None:
        labels = dataset.labels.long()
        names = getattr(dataset, "class_names", None) or [str(k) for k in range(int(labels.max()) + 1)]
        names = FASHION_MNIST if name == "fashion-mnist" else names
        return Labelled(dataset, labels, list(names))
    if root is not None and paths is not None:
        return Labelled(dataset, *folder_labels(Path(root), list(paths)))
    raise UserError(f"data set {name!r} has no class labels: train it without model.conditional")
