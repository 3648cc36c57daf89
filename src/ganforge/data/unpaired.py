"""Unpaired data (CycleGAN's): two piles of images, side A and side B, that need not correspond and may
differ in number. An index is a pair (i, j): image i of A and image j of B, the two drawn apart by the batch
stream (train/data_stream.EpochBatches), so that nothing pairs them.

A folder is read in one of three layouts (the first is the CycleGAN data sets'):

* ``trainA/``, ``trainB/`` (and ``valA/``, ``valB/``, ``testA/``, ``testB/`` for the held-out splits);
* ``train/A/``, ``train/B/`` (and ``val/``, ``test/``);
* ``A/`` and ``B/`` with no split folders: every split reads them (nothing is held out).

File names need not match. Where every held-out image of A has a partner of the same name in B (a
held-out set made of true pairs), :meth:`UnpairedImages.pairs` gives them, for PSNR and SSIM.
"""

from __future__ import annotations

from pathlib import Path

import torch

from ..errors import UserError
from .base import ImageDataset
from .builtin import TensorImages
from .folder import ImageFolder
from .paired import SPLITS, MissingSplit

LAYOUTS = "trainA/ and trainB/ (the CycleGAN data sets' layout), train/A/ and train/B/, or A/ and B/"


class UnpairedImages(ImageDataset):
    """Side A and side B; an epoch is one pass over side A."""

    unpaired = True

    def __init__(
        self, a: ImageDataset, b: ImageDataset, name: str = "unpaired images", unsplit: bool = False, jitter_ok=True
    ):
        self.a, self.b, self.name, self.unsplit = a, b, name, unsplit
        self.in_memory = a.in_memory and b.in_memory  # type: ignore[misc]
        self.gathers = a.gathers and b.gathers
        self.jitter_ok = jitter_ok  # type: ignore[misc]

    def __len__(self) -> int:
        return len(self.a)  # type: ignore[arg-type]

    @property
    def other_size(self) -> int:
        """How many images side B holds."""
        return len(self.b)  # type: ignore[arg-type]

    def describe(self) -> str:
        return f"{self.name}: {len(self)} images of side A, {self.other_size} of side B, unpaired"

    def notes(self) -> list[str]:
        return [f"side {side}: {line}" for side, data in (("A", self.a), ("B", self.b)) for line in data.notes()]

    def __getitem__(self, index: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
        i, j = index
        return self.a[i], self.b[j]

    # packed sides' batches as stored (data/packed.py, train/data_stream.py): each side's uint8 images
    def gather(self, index: list[tuple[int, int]]) -> tuple[torch.Tensor, torch.Tensor]:
        i, j = (list(c) for c in zip(*index, strict=True))
        return self.a.gather(i), self.b.gather(j)  # type: ignore[attr-defined]

    def whole(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.a.whole(), self.b.whole()  # type: ignore[attr-defined]

    @property
    def stored_bytes(self) -> int:
        return self.a.stored_bytes + self.b.stored_bytes  # type: ignore[attr-defined]

    def pairs(self) -> ImageDataset | None:
        """(A, B) pairs matched by file name, where every image of each side has its partner; else None."""
        names = [_names(side) for side in (self.a, self.b)]
        if None in names or not names[0] or set(names[0]) != set(names[1]):  # type: ignore[arg-type]
            return None
        where = {name: j for j, name in enumerate(names[1])}  # type: ignore[arg-type]
        return NamedPairs(self, [(i, where[name]) for i, name in enumerate(names[0])])  # type: ignore[arg-type]


class NamedPairs(ImageDataset):
    """The held-out images of two folders whose names match, as (A, B) pairs."""

    def __init__(self, sides: UnpairedImages, index: list[tuple[int, int]]):
        self.sides, self.index, self.unsplit = sides, index, sides.unsplit

    def __len__(self) -> int:
        return len(self.index)

    def describe(self) -> str:
        return f"{len(self)} pairs matched by name ({self.sides.name})"

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.sides[self.index[i]]


def _names(side: ImageDataset) -> list[str] | None:
    if getattr(side, "names", None):  # a packed set's sides (data/packed.py)
        return list(side.names)  # type: ignore[attr-defined]
    if not isinstance(side, ImageFolder):
        return None
    return [path.relative_to(side.root).with_suffix("").as_posix() for path in side.paths]


def side_folders(root: Path, split: str) -> tuple[Path, Path, bool]:
    """The folders of side A and side B for `split`, and whether they are unsplit (every split the same)."""
    if not root.is_dir():
        raise UserError(f"unpaired data folder {root} does not exist; give --data a folder with {LAYOUTS}")
    forms = {s: [(root / f"{s}A", root / f"{s}B"), (root / s / "A", root / s / "B")] for s in SPLITS}
    present = []
    for s, candidates in forms.items():
        for a, b in candidates:
            if a.is_dir() != b.is_dir():
                have, lack = (a, b) if a.is_dir() else (b, a)
                raise UserError(f"{have} has no partner folder {lack}; add {lack} with the other side's images")
            if a.is_dir():
                present.append(s)
                if s == split:
                    return a, b, False
    if present:
        listed = ", ".join(sorted(set(present)))
        raise MissingSplit(
            f"{root} holds the split(s) {listed} but no {split}; add {root / (split + 'A')} and {split}B", present
        )
    if (root / "A").is_dir() != (root / "B").is_dir():
        have, lack = ("A", "B") if (root / "A").is_dir() else ("B", "A")
        raise UserError(f"{root} has {have}/ but no {lack}/; add {root / lack} with the other side's images")
    if (root / "A").is_dir():
        return root / "A", root / "B", True
    raise UserError(f"{root} holds no unpaired data: an unpaired set needs {LAYOUTS}")


def unpaired_folder(
    root: Path, split: str, image_size: int, channels: int, bad_images: str = "strict", max_pixels: int = 0
) -> UnpairedImages:
    """Side A and side B of `split` from a folder (the layouts in the module doc), each screened alone."""
    a, b, unsplit = side_folders(root, split)
    sides = (ImageFolder(folder, image_size, channels, bad_images, max_pixels) for folder in (a, b))
    return UnpairedImages(*sides, name=f"{root} ({a.name}, {b.name})" if not unsplit else str(root), unsplit=unsplit)


def unpaired_shapes(n: int, image_size: int, seed: int) -> UnpairedImages:
    """The embedded unpaired task: flat label maps of some scenes (A), renderings of others (B)."""
    from .shapes import unpaired_sides

    a, b = (t.float().div(127.5).sub(1) for t in unpaired_sides(n, image_size, seed))
    # lit from the upper left: a mirrored rendering would show a light the label maps never mean
    sides = TensorImages(a, name="label maps"), TensorImages(b, name="renderings")
    return UnpairedImages(*sides, "embedded shapes", jitter_ok=False)
