"""A folder of images, searched recursively, for unconditional training."""

from __future__ import annotations

from pathlib import Path

import torch

from ..errors import UserError
from .base import ImageDataset
from .images import IMAGE_EXTENSIONS, list_images, load_image, read_size, resize_center_crop, to_tensor


class ImageFolder(ImageDataset):
    """Every image under `root`, converted to `channels`, resized and centre-cropped to `image_size`.

    Headers are read when the data set is built, so an unreadable file stops the run before training.
    """

    def __init__(self, root: str | Path, image_size: int, channels: int):
        self.root = Path(root)
        if self.root.is_file():
            raise UserError(f"--data {self.root} is a file; give the folder that holds the images (or a built-in name)")
        if not self.root.is_dir():
            raise UserError(
                f"data folder {self.root} does not exist; give --data a folder of images or a "
                "built-in name (ganforge presets lists them)"
            )
        self.paths = list_images(self.root)
        if not self.paths:
            raise UserError(
                f"data folder {self.root} holds no images ({', '.join(IMAGE_EXTENSIONS)}); "
                "put images in it or point --data elsewhere"
            )
        for path in self.paths:
            read_size(path)
        self.image_size, self.channels = image_size, channels

    def __len__(self) -> int:
        return len(self.paths)

    def describe(self) -> str:
        return f"{len(self)} images from {self.root}"

    def __getitem__(self, i: int) -> torch.Tensor:
        img = load_image(self.paths[i], self.channels)
        return to_tensor(resize_center_crop(img, self.image_size))
