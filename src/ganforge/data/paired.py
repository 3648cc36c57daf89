"""Paired (image-to-image) data sets for pix2pix, read from a folder.

Two layouts are understood:

* ``aligned``: each file holds one pair side by side, left half A and right half B (the layout of the
  facades, maps and edges2shoes sets). The width must be even.
* ``two-folder``: a folder ``A/`` and a folder ``B/`` whose files match by relative path and stem
  (``A/x/1.png`` pairs with ``B/x/1.jpg``). Partners must have the same size.

Splits: when the root has ``train/``, ``val/`` or ``test/`` subfolders the split picks one of them
(``train/A`` + ``train/B``, or ``A/train`` + ``B/train`` for two folders); otherwise every split reads the
whole root. The whole set is checked when the data set is made, reading only image headers, so a bad set
fails before training starts rather than hours into it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch
from PIL import Image

from ganforge.config.vocab import DIRECTIONS
from ganforge.data.base import ImageDataset
from ganforge.data.images import (
    IMAGE_EXTENSIONS,
    list_images,
    load_image,
    resize_center_crop,
    to_tensor,
)
from ganforge.data.screening import Screen, pixel_limit
from ganforge.errors import UserError

Layout = Literal["aligned", "two-folder"]
SPLITS = ("train", "val", "test")

_EXTS = "/".join(ext.lstrip(".") for ext in IMAGE_EXTENSIONS)
_ALIGNED_HINT = "one image per pair with A on the left half and B on the right half"
_TWO_FOLDER_HINT = "folders A/ and B/ holding files with matching names"
_EXPECTED = f"expected {_ALIGNED_HINT}, or {_TWO_FOLDER_HINT} (optionally under train/, val/, test/)"


@dataclass(frozen=True)
class PairFiles:
    """Where one pair lives: ``a`` and ``b`` are the same file in the aligned layout."""

    name: str
    a: Path
    b: Path


def _has_pair_folders(folder: Path) -> bool:
    return (folder / "A").is_dir() and (folder / "B").is_dir()


def _check_lonely_folder(folder: Path) -> None:
    """A/ without B/ (or the reverse) is a half-made two-folder set, not an aligned one: say so."""
    has_a, has_b = (folder / "A").is_dir(), (folder / "B").is_dir()
    if has_a != has_b:
        present, missing = ("A", "B") if has_a else ("B", "A")
        raise UserError(
            f"{folder} has a {present}/ folder but no {missing}/ folder; "
            f"add {folder / missing} with the partner images ({_TWO_FOLDER_HINT})"
        )


def detect_layout(root: Path) -> Layout:
    """``"two-folder"`` if ``root`` or one of its train/val/test folders has A/ and B/, else ``"aligned"``."""
    root = Path(root)
    if not root.is_dir():
        raise UserError(f"paired data folder {root} does not exist; point the data path at a folder ({_EXPECTED})")
    candidates = [root] + [root / s for s in SPLITS if (root / s).is_dir()]
    for folder in candidates:
        _check_lonely_folder(folder)
    return "two-folder" if any(_has_pair_folders(f) for f in candidates) else "aligned"


def _split_folders_of(folder: Path) -> list[str]:
    return [s for s in SPLITS if (folder / s).is_dir()]


class MissingSplit(UserError):
    """The data have split folders (`present`), but not the one asked for."""

    def __init__(self, message: str, present: list[str]):
        super().__init__(message)
        self.present = present


def _missing_split(root: Path, split: str, present: list[str]) -> MissingSplit:
    listed = ", ".join(f"{s}/" for s in present)
    return MissingSplit(f"{root} has {listed} but no {split}/ folder; add {root / split}", present)


def _aligned_folder(root: Path, split: str | None) -> Path:
    present = _split_folders_of(root)
    if split is None or not present:
        return root
    if split not in present:
        raise _missing_split(root, split, present)
    return root / split


def _two_folder_dirs(root: Path, split: str | None) -> list[tuple[Path, Path]]:
    """The (A, B) folder pairs that make up ``split`` (None: the whole root)."""
    if split is None:
        if _has_pair_folders(root):
            return [(root / "A", root / "B")]
        return [(root / s / "A", root / s / "B") for s in SPLITS if _has_pair_folders(root / s)]

    # Form 1: train/A + train/B.
    if _has_pair_folders(root / split):
        return [(root / split / "A", root / split / "B")]
    outer = [s for s in SPLITS if _has_pair_folders(root / s)]
    if outer:
        raise _missing_split(root, split, outer)

    # Form 2: A/train + B/train.
    a_dir, b_dir = root / "A", root / "B"
    inner_a, inner_b = _split_folders_of(a_dir), _split_folders_of(b_dir)
    if inner_a or inner_b:
        if split in inner_a and split in inner_b:
            return [(a_dir / split, b_dir / split)]
        if split in inner_a or split in inner_b:
            have, lack = (a_dir, b_dir) if split in inner_a else (b_dir, a_dir)
            raise UserError(f"{have / split} has no partner folder {lack / split}; add it with the partner images")
        raise _missing_split(a_dir, split, inner_a or inner_b)

    # No split folders: every split reads the whole root.
    return [(a_dir, b_dir)]


def _index_folder(folder: Path) -> dict[str, Path]:
    """Files of ``folder`` keyed by relative path without extension."""
    index: dict[str, Path] = {}
    for path in list_images(folder):
        key = path.relative_to(folder).with_suffix("").as_posix()
        if key in index:
            raise UserError(
                f"{index[key]} and {path} have the same name; pairs are matched by name, so rename or remove one"
            )
        index[key] = path
    return index


def _match_pairs(a_dir: Path, b_dir: Path, prefix: str) -> list[PairFiles]:
    a_files, b_files = _index_folder(a_dir), _index_folder(b_dir)
    for folder, files in ((a_dir, a_files), (b_dir, b_files)):
        if not files:
            state = "has no images" if folder.is_dir() else "does not exist"
            raise UserError(f"{folder} {state} ({_EXTS}); a two-folder paired set needs {_TWO_FOLDER_HINT}")
    for own, other_dir, other in ((a_files, b_dir, b_files), (b_files, a_dir, a_files)):
        lonely = [key for key in own if key not in other]
        if lonely:
            more = f" ({len(lonely) - 1} more files lack a partner)" if len(lonely) > 1 else ""
            looked_for = f"{other_dir / lonely[0]}.{{{_EXTS}}}"
            raise UserError(
                f"{own[lonely[0]]} has no partner in {other_dir} (looked for {looked_for}){more}; "
                "add the missing images or remove the unpaired ones"
            )
    return [PairFiles(name=prefix + key, a=a_files[key], b=b_files[key]) for key in sorted(a_files)]


def _size_text(size: tuple[int, int]) -> str:
    return f"{size[0]}x{size[1]}"


def _check_same_size(pair: PairFiles, size_a: tuple[int, int], size_b: tuple[int, int]) -> None:
    if size_a != size_b:
        raise UserError(
            f"{pair.a} is {_size_text(size_a)} but {pair.b} is {_size_text(size_b)}; "
            "the two images of a pair must be the same size, so resize or crop one of them"
        )


def _check_even_width(path: Path, size: tuple[int, int]) -> None:
    if size[0] % 2:
        raise UserError(
            f"{path} is {_size_text(size)}, an odd width, so it is not a side-by-side pair ({_ALIGNED_HINT}); "
            "crop or pad it by one pixel, or, for a folder of single photos, train unet-restore with --degrade "
            "to make the inputs from them"
        )


class PairedFolder(ImageDataset):
    """Pairs ``(input, target)`` of float32 tensors (C, load_size, load_size) in [-1, 1] from a folder.

    ``direction`` "AtoB" makes A the input and B the target, "BtoA" the reverse. Both images of a pair are
    resized (short side to ``load_size``, then centre-cropped square) but not randomly cropped: the random
    crop to ``image_size`` and the mirror happen on the batch (:func:`ganforge.data.augment.random_jitter`).
    ``split=None`` ignores train/val/test folders and reads everything under the root.
    """

    def __init__(
        self,
        root: Path | str,
        split: str | None = "train",
        direction: str = "AtoB",
        image_size: int = 256,
        load_size: int | None = None,
        in_channels: int = 3,
        out_channels: int = 3,
        bad_images: str = "strict",
        max_pixels: int = 0,
    ) -> None:
        if split is not None and split not in SPLITS:
            raise UserError(f"split must be one of {', '.join(SPLITS)}, got {split!r}; fix the split setting")
        if direction not in DIRECTIONS:
            raise UserError(f"direction must be 'AtoB' or 'BtoA', got {direction!r}; fix the direction setting")
        for key, value in (("in_channels", in_channels), ("out_channels", out_channels)):
            if value not in (1, 3):
                raise UserError(f"{key} must be 1 (grey) or 3 (RGB), got {value!r}; fix the {key} setting")
        load_size = image_size if load_size is None else load_size
        if image_size < 1 or load_size < image_size:
            raise UserError(
                f"load_size ({load_size}) must be at least image_size ({image_size}) and both positive; "
                "fix the load_size or image_size setting"
            )

        self.root = Path(root)
        self.split = split
        self.direction = direction
        self.image_size = image_size
        self.load_size = load_size
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.layout: Layout = detect_layout(self.root)
        self.screen = Screen(bad_images, pixel_limit(max_pixels, image_size))
        self.pairs: list[PairFiles] = self._collect()
        if not self.pairs:
            raise UserError(f"no pair in {self.root} can be used, e.g. {self.screen.skipped[0]}")
        # no train/, val/ or test/ folders: every split reads the whole root, the training pairs too
        self.unsplit = not (_split_folders_of(self.root) or _split_folders_of(self.root / "A"))

    def _collect(self) -> list[PairFiles]:
        if self.layout == "aligned":
            folder = _aligned_folder(self.root, self.split)
            files = list_images(folder)
            if not files:
                raise UserError(f"{folder} has no images ({_EXTS}); {_EXPECTED}")
            pairs = [PairFiles(name=p.relative_to(folder).with_suffix("").as_posix(), a=p, b=p) for p in files]
            return [pair for pair in pairs if self._usable(pair)]

        dirs = _two_folder_dirs(self.root, self.split)
        if not dirs:
            raise UserError(f"{self.root} has no A/ and B/ folders; {_EXPECTED}")
        multi = len(dirs) > 1
        pairs = []
        for a_dir, b_dir in dirs:
            prefix = f"{a_dir.parent.name}/" if multi else ""
            pairs.extend(_match_pairs(a_dir, b_dir, prefix))
        return [pair for pair in pairs if self._usable(pair)]

    def _usable(self, pair: PairFiles) -> bool:
        """Whether the pair's files can be read and are large enough (else the policy skips or stops); a
        layout mistake (an odd width, halves of different sizes) stops the set under either policy."""
        if self.layout == "aligned":
            size = self.screen.size(pair.a, halves=2)
            if size:
                _check_even_width(pair.a, size)
            return size is not None
        size_a = self.screen.size(pair.a)
        size_b = size_a and self.screen.size(pair.b)
        if size_a and size_b:
            _check_same_size(pair, size_a, size_b)
        return bool(size_b)

    @property
    def names(self) -> list[str]:
        """Each pair's name: its relative path without extension (useful to name saved predictions)."""
        return [pair.name for pair in self.pairs]

    def __len__(self) -> int:
        return len(self.pairs)

    def describe(self) -> str:
        source, target = ("A", "B") if self.direction == "AtoB" else ("B", "A")
        return f"{len(self)} pairs from {self.root}, input {source} -> target {target} ({self.direction})"

    def _load_halves(self, pair: PairFiles) -> tuple[Image.Image, Image.Image]:
        channels = max(self.in_channels, self.out_channels)
        if self.layout == "aligned":
            img = load_image(pair.a, channels)
            _check_even_width(pair.a, img.size)
            half = img.width // 2
            return img.crop((0, 0, half, img.height)), img.crop((half, 0, img.width, img.height))
        img_a, img_b = load_image(pair.a, channels), load_image(pair.b, channels)
        _check_same_size(pair, img_a.size, img_b.size)
        return img_a, img_b

    def notes(self) -> list[str]:
        return self.screen.notes(len(self), "pairs")

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.screen.first_readable(self._pair, index, len(self), lambda i: self.pairs[i].a)

    def _pair(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        img_a, img_b = self._load_halves(self.pairs[index])
        source, target = (img_a, img_b) if self.direction == "AtoB" else (img_b, img_a)
        return self._prepare(source, self.in_channels), self._prepare(target, self.out_channels)

    def _prepare(self, img: Image.Image, channels: int) -> torch.Tensor:
        img = resize_center_crop(img, self.load_size)
        if channels == 1 and img.mode != "L":
            img = img.convert("L")
        return to_tensor(img)
