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


def build_dataset(cfg: Config, split: str = "train") -> Dataset:
    """The training data of `cfg`: `cfg.data.name` is a built-in name or a folder."""
    d = cfg.data
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
