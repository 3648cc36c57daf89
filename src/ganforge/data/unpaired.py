"""Unpaired data (CycleGAN's): two piles of images, side A and side B, that need not correspond and may
differ in number. An index is a pair (i, j): image i of A and image j of B, the two drawn apart by the batch
stream (train/data_stream.EpochBatches), so that nothing pairs them."""

from __future__ import annotations

import torch

from .base import ImageDataset
from .builtin import TensorImages


class UnpairedImages(ImageDataset):
    """Side A and side B; an epoch is one pass over side A."""

    unpaired = True

    def __init__(self, a: ImageDataset, b: ImageDataset, name: str = "unpaired images"):
        self.a, self.b, self.name = a, b, name
        self.in_memory = a.in_memory and b.in_memory  # type: ignore[misc]

    def __len__(self) -> int:
        return len(self.a)  # type: ignore[arg-type]

    @property
    def other_size(self) -> int:
        """How many images side B holds."""
        return len(self.b)  # type: ignore[arg-type]

    def describe(self) -> str:
        return f"{self.name}: {len(self)} images of side A, {self.other_size} of side B, unpaired"

    def __getitem__(self, index: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
        i, j = index
        return self.a[i], self.b[j]


def unpaired_shapes(n: int, image_size: int, seed: int) -> UnpairedImages:
    """The embedded unpaired task: flat label maps of some scenes (A), renderings of others (B)."""
    from .shapes import unpaired_sides

    a, b = (t.float().div(127.5).sub(1) for t in unpaired_sides(n, image_size, seed))
    return UnpairedImages(TensorImages(a, name="label maps"), TensorImages(b, name="renderings"), "embedded shapes")
