"""The embedded default data set: the 1,797 UCI handwritten digits (8x8, 17 gray levels) that
scikit-learn ships inside its package, so a first run needs no download."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .base import ImageDataset
from .images import as_channels


class TensorImages(ImageDataset):
    """An in-memory stack of images (N, C, H, W) in [-1, 1], with optional integer labels."""

    in_memory = True

    def __init__(self, images: torch.Tensor, labels: torch.Tensor | None = None, name: str = "images"):
        self.images = images.contiguous()
        self.labels = labels
        self.name = name

    def describe(self) -> str:
        return f"{len(self)} {self.name}"

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> torch.Tensor:
        return self.images[i]


def digits_images(image_size: int, channels: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """The UCI digits upsampled (bilinear, no padding) to image_size, scaled to [-1, 1], and their labels."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = torch.from_numpy(bunch.images).float().div_(16.0).unsqueeze(1)  # (1797, 1, 8, 8) in [0, 1]
    if image_size != 8:
        x = F.interpolate(x, size=(image_size, image_size), mode="bilinear", align_corners=False)
    x = x.clamp_(0, 1).mul_(2).sub_(1)
    return as_channels(x, channels).contiguous(), torch.from_numpy(bunch.target).long()


def digits(image_size: int, channels: int = 1) -> TensorImages:
    data = TensorImages(*digits_images(image_size, channels), name="embedded UCI digits")
    data.unsplit = True  # the 1,797 digits have no held-out split
    return data
