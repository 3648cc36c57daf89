"""Data sets by name: built-in ones, downloads, or a folder path."""

from __future__ import annotations

from pathlib import Path

import torch

from ..config import Config
from ..errors import UserError
from .base import ImageDataset
from .builtin import TensorImages, digits
from .degrade import degrade, describe, parse_degradations
from .facades import download_facades
from .folder import ImageFolder
from .images import as_channels
from .labels import Labelled, labelled
from .mnist import IDXImageDataset, load_mnist
from .packed import is_packed, open_packed
from .paired import MissingSplit, PairedFolder
from .patches import ImagePatches, PairedPatches, has_pairs
from .shapes import LARGEST, ShapesPairs
from .unpaired import unpaired_folder, unpaired_shapes

UNCONDITIONAL = {
    "digits": "the 1,797 UCI handwritten digits shipped with scikit-learn (embedded, no download)",
    "mnist": "MNIST, 60,000 handwritten digits (downloaded once to the cache)",
    "fashion-mnist": "Fashion-MNIST, 60,000 clothing images (downloaded once to the cache)",
}


PAIRED = {
    "shapes": "coloured label maps of random shapes -> shaded renderings (embedded, made from a seed)",
    "facades": "the pix2pix CMP facades, 400 training pairs (downloaded once to the cache)",
}
BUILT_IN = {*UNCONDITIONAL, *PAIRED}
# The way a paired data set translates when `data.direction` is auto: a built-in set's own (the facades
# archive holds photo | label map, and pix2pix learns label map -> photo), A to B for a user's folder.
DEFAULT_DIRECTION = {"facades": "BtoA"}


def build_dataset(cfg: Config, split: str = "train") -> ImageDataset:
    """The `split` (train, val, test) of `cfg.data.name` (held-out splits: `data.val_name` if set): images,
    or (input, target) pairs for a paired task without `data.degrade`."""
    d = cfg.data
    name = d.val_name if split != "train" and d.val_name else d.name
    if name not in BUILT_IN and is_packed(Path(name).expanduser()):
        return open_packed(Path(name).expanduser(), cfg, split)
    if cfg.task == "upscale" and name not in BUILT_IN:
        return upscale_images(cfg, name, split)
    if cfg.task == "paired" and not d.degrade:
        return _paired(cfg, name, split)
    if cfg.task == "unpaired":
        return _unpaired(cfg, name, split)
    if name == "shapes":
        clean = _shapes(cfg, split).targets.float().div(127.5).sub(1)
        return TensorImages(as_channels(clean, d.channels), name="embedded shapes renderings")
    if name == "digits":
        return digits(d.image_size, d.channels)
    if name in ("mnist", "fashion-mnist"):
        images, labels = load_mnist(name, split="train" if split == "train" else "test")
        return IDXImageDataset(images, d.image_size, d.channels, labels)
    path = Path(name).expanduser()
    if not path.exists() and "/" not in name and "\\" not in name:
        known = ", ".join([*UNCONDITIONAL, "shapes"])
        raise UserError(f"unknown data set {name!r}: not a folder and not one of {known}")
    return ImageFolder(path, d.image_size, d.channels, d.bad_images, d.max_pixels)


def upscale_images(cfg: Config, name: str, split: str) -> ImageDataset:
    """A folder's patches at their own resolution for super-resolution (data/patches.py), or the patches
    of its LR/ and HR/ pairs."""
    d, root = cfg.data, Path(name).expanduser()
    if not root.is_dir():
        raise UserError(f"data folder {root} does not exist; give --data a folder of photographs")
    if has_pairs(root):
        return PairedPatches(root, split, d.image_size, cfg.model.scale, d.channels, d.bad_images, d.max_pixels)
    return ImagePatches(root, split, d.image_size, d.channels, d.bad_images, d.max_pixels)


def labelled_for(cfg: Config, dataset: ImageDataset) -> Labelled:
    """`dataset` with its class labels (data/labels.py) for a conditional run; `model.num_classes` 0 becomes
    the number of classes found, and a number smaller than it is an error."""
    data = labelled(dataset, cfg.data.name)
    found = len(data.class_names)
    if cfg.model.num_classes == 0:
        cfg.model.num_classes = found
    elif cfg.model.num_classes < found:
        raise UserError(
            f"model.num_classes={cfg.model.num_classes}, but {cfg.data.name} has {found} classes: set "
            f"model.num_classes={found} or 0 (the data's)"
        )
    return data


def build_pairs(cfg: Config, split: str) -> ImageDataset:
    """(input, target) pairs of a split: the paired data, or clean images and their degraded versions
    (degraded deterministically per image, so evaluations repeat)."""
    if cfg.data.degrade:
        return DegradedPairs(build_dataset(cfg, split), parse_degradations(cfg.data.degrade), cfg.train.seed)
    return build_dataset(cfg, split)


def held_out_pairs(cfg: Config, splits: tuple[str, ...] = ("val", "test")) -> tuple[ImageDataset, str]:
    """The pairs of the first of `splits` that the data have, and its name (a folder with train/ and
    test/ but no val/ is held out by its test/)."""
    for split in splits:
        try:
            return build_pairs(cfg, split), split
        except MissingSplit:
            if split == splits[-1]:
                raise
    raise ValueError("held_out_pairs needs at least one split")


class DegradedPairs(ImageDataset):
    def __init__(self, images: ImageDataset, degradations: list, seed: int):
        self.images, self.degradations, self.seed = images, degradations, seed
        self.in_memory = images.in_memory  # type: ignore[misc]
        self.unsplit = images.unsplit

    def notes(self) -> list[str]:
        return self.images.notes()

    def describe(self) -> str:
        return f"{self.images.describe()}, degraded by {describe(self.degradations)}"

    def __len__(self) -> int:
        return len(self.images)  # type: ignore[arg-type]

    def __getitem__(self, i: int):
        clean = self.images[i]
        gen = torch.Generator().manual_seed(self.seed * 1_000_003 + i)
        return degrade(clean.unsqueeze(0), self.degradations, gen)[0], clean


def _paired(cfg: Config, name: str, split: str) -> ImageDataset:
    d = cfg.data
    if name == "shapes":
        if (d.in_channels, d.channels) != (3, 3):
            raise UserError("the shapes data set is RGB -> RGB; set data.in_channels=3 and data.channels=3")
        return _shapes(cfg, split)
    if name == "facades":
        root = download_facades()
    else:
        root = Path(name).expanduser()
        if not root.exists():
            raise UserError(f"paired data {name!r} is neither a folder nor one of {', '.join(PAIRED)}")
    return PairedFolder(
        root,
        split=split,
        direction=DEFAULT_DIRECTION.get(name, "AtoB") if d.direction == "auto" else d.direction,
        image_size=d.image_size,
        in_channels=d.in_channels,
        out_channels=d.channels,
        bad_images=d.bad_images,
        max_pixels=d.max_pixels,
    )


def _unpaired(cfg: Config, name: str, split: str) -> ImageDataset:
    """Two piles of images (data/unpaired.py): a folder's sides, or the embedded shapes, whose held-out
    splits are pairs (label maps and their true renderings, which training never pairs)."""
    d = cfg.data
    if name != "shapes":
        root = Path(name).expanduser()
        if not root.exists() and "/" not in name and "\\" not in name:
            raise UserError(f"unknown unpaired data set {name!r}: not a folder, and the built-in one is shapes")
        return unpaired_folder(root, split, d.image_size, d.channels, d.bad_images, d.max_pixels)
    if split != "train":
        return _shapes(cfg, split)
    if cfg.data.image_size > LARGEST:
        return _shapes(cfg, split)  # which says what to do
    return unpaired_shapes(1000, cfg.data.image_size, cfg.train.seed)


def _shapes(cfg: Config, split: str) -> ImageDataset:
    """The embedded shapes pairs: 1,000 for training, 100 in each held-out split."""
    if cfg.data.image_size > LARGEST:
        raise UserError(
            f"the embedded shapes are drawn at {LARGEST}x{LARGEST} at most (they are held in memory); use "
            f"--image-size {LARGEST} or less, or --data a folder of your own images"
        )

    n = 1000 if split == "train" else 100
    return ShapesPairs(n=n, image_size=cfg.data.image_size, seed=cfg.train.seed, split=split)
