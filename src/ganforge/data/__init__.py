"""Data sets by name: built-in ones, downloads, or a folder path."""

from __future__ import annotations

from pathlib import Path

from torch.utils.data import Dataset

from ..config import Config
from ..errors import UserError

UNCONDITIONAL = {
    "digits": "the 1,797 UCI handwritten digits shipped with scikit-learn (embedded, no download)",
    "mnist": "MNIST, 60,000 handwritten digits (downloaded once to the cache)",
    "fashion-mnist": "Fashion-MNIST, 60,000 clothing images (downloaded once to the cache)",
}


PAIRED = {
    "shapes": "coloured label maps of random shapes -> shaded renderings (embedded, made from a seed)",
    "facades": "the pix2pix CMP facades, 400 training pairs (downloaded once to the cache)",
}


def build_dataset(cfg: Config, split: str = "train") -> Dataset:
    """The `split` (train, val, test) of `cfg.data.name`: a built-in name or a folder."""
    d = cfg.data
    if cfg.task == "paired":
        return _paired(cfg, split)
    if d.name == "digits":
        from .builtin import digits

        return digits(d.image_size, d.channels)
    if d.name in ("mnist", "fashion-mnist"):
        from .mnist import IDXImageDataset, load_mnist

        images, _ = load_mnist(d.name, split="train" if split == "train" else "test")
        return IDXImageDataset(images, d.image_size, d.channels)
    path = Path(d.name).expanduser()
    if not path.exists() and "/" not in d.name and "\\" not in d.name:
        raise UserError(f"unknown data set {d.name!r}: not a folder and not one of {', '.join(UNCONDITIONAL)}")
    from .folder import ImageFolder

    return ImageFolder(path, d.image_size, d.channels)


def _paired(cfg: Config, split: str) -> Dataset:
    d = cfg.data
    if d.name == "shapes":
        from .shapes import ShapesPairs

        if (d.in_channels, d.channels) != (3, 3):
            raise UserError("the shapes data set is RGB -> RGB; set data.in_channels=3 and data.channels=3")
        return ShapesPairs(n=1000 if split == "train" else 100, image_size=d.image_size, seed=cfg.train.seed,
                           split=split)  # fmt: skip
    if d.name == "facades":
        from .facades import download_facades

        root = download_facades()
    else:
        root = Path(d.name).expanduser()
        if not root.exists():
            raise UserError(f"paired data {d.name!r} is neither a folder nor one of {', '.join(PAIRED)}")
    from .paired import PairedFolder

    return PairedFolder(root, split=split, direction=d.direction,
                        image_size=d.image_size, in_channels=d.in_channels, out_channels=d.channels)  # fmt: skip
