"""What ganforge asks of a data set, beyond `__len__` and `__getitem__`."""

from __future__ import annotations

from typing import ClassVar

import torch
from torch.utils.data import Dataset


class ImageDataset(Dataset):
    """Images (C, H, W) in [-1, 1], or (input, target) pairs of them.

    `in_memory`: the data are held in memory, so loader workers would only cost start-up time.
    `jitter_ok`: for pairs, random crops and mirroring (pix2pix's jitter) give valid pairs.
    `labels`: class labels, for the classifier view of generated images (metrics/classes.py).
    `unsplit`: every split is these same images, so a "held-out" evaluation scores the training data.
    `gathers`: a packed set (data/packed.py), whose batches are read whole, as uint8, and converted on the device.
    """

    in_memory: ClassVar[bool] = False
    jitter_ok: ClassVar[bool] = True
    labels: torch.Tensor | None = None  # class labels (N,), where the data set has them
    unsplit: bool = False  # no held-out split: every split reads these same (training) images
    gathers: bool = False

    def __len__(self) -> int:
        raise NotImplementedError

    def describe(self) -> str:
        """One line for the run's log: what the data are and, for pairs, which way they translate."""
        return f"{len(self)} images"

    def notes(self) -> list[str]:
        """Lines for the run's log about the data, such as the files left out (screening.py)."""
        return []
