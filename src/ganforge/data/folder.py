"""A folder of images, searched recursively, for unconditional training."""

from __future__ import annotations

from pathlib import Path

import torch

from ..errors import UserError
from .base import ImageDataset
from .images import IMAGE_EXTENSIONS, list_images, load_image, resize_center_crop, to_tensor
from .screening import Screen, pixel_limit


class ImageFolder(ImageDataset):
    """Every image under `root`, converted to `channels`, resized and centre-cropped to `image_size`.

    Headers are read when the data set is built, so an unreadable or too small file is left out (or, under
    `bad_images="strict"`, stops the run) before training (screening.py).
    """

    unsplit = True  # every split reads the whole folder

    def __init__(
        self, root: str | Path, image_size: int, channels: int, bad_images: str = "strict", max_pixels: int = 0
    ):
        self.root = Path(root)
        if self.root.is_file():
            raise UserError(f"--data {self.root} is a file; give the folder that holds the images (or a built-in name)")
        if not self.root.is_dir():
            raise UserError(
                f"data folder {self.root} does not exist; give --data a folder of images or a "
                "built-in name (ganforge presets lists them)"
            )
        found = list_images(self.root)
        if not found:
            raise UserError(
                f"data folder {self.root} holds no images ({', '.join(IMAGE_EXTENSIONS)}); "
                "put images in it or point --data elsewhere"
            )
        self.screen = Screen(bad_images, pixel_limit(max_pixels, image_size))
        self.paths = [path for path in found if self.screen.size(path) is not None]
        if not self.paths:
            first = self.screen.skipped[0]
            raise UserError(f"none of the {len(found)} images in {self.root} can be used, e.g. {first}")
        self.image_size, self.channels = image_size, channels

    def __len__(self) -> int:
        return len(self.paths)

    def describe(self) -> str:
        return f"{len(self)} images from {self.root}"

    def notes(self) -> list[str]:
        return self.screen.notes(len(self))

    def __getitem__(self, i: int) -> torch.Tensor:
        return self.screen.first_readable(self._load, i, len(self), self.paths.__getitem__)

    def _load(self, i: int) -> torch.Tensor:
        return to_tensor(resize_center_crop(load_image(self.paths[i], self.channels), self.image_size))
