"""Training patches cut from photographs at their own resolution, for super-resolution.

An upscaler must learn the detail of real pixels, so its images are never resized: each is cut into
`patch` x `patch` squares at a stride of half a patch, the last row and column flush with the image's edge,
so that every pixel is in some patch. Images are decoded once and held as uint8 while they fit in
HOLD_BYTES (a patch is then a slice); a larger folder is decoded image by image as patches are asked for
(pack it with `ganforge prepare` for speed). A folder with `LR/` and `HR/` beside each other holds explicit
pairs: files of the same name, the HR image `scale` times the LR one.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch

from ..errors import UserError
from .base import ImageDataset
from .images import IMAGE_EXTENSIONS, list_images, load_image
from .paired import MissingSplit
from .screening import Screen, pixel_limit

HOLD_BYTES = 4 * 2**30  # decoded images held in memory, at most
SPLITS = ("train", "val", "test")


def split_root(root: Path, split: str) -> tuple[Path, bool]:
    """The folder of `split`, and whether the data are unsplit (every split is the whole folder): a folder
    with train/ (val/, test/) subfolders is split, any other is read whole."""
    present = [s for s in SPLITS if (root / s).is_dir()]
    if not present:
        return root, True
    if split not in present:
        raise MissingSplit(f"{root} has no {split}/ folder (it has {', '.join(present)})", present)
    return root / split, False


def starts(length: int, patch: int) -> list[int]:
    """Where the patches along a side start: every half patch, and one flush with the far edge."""
    stride = max(1, patch // 2)
    found = list(range(0, length - patch + 1, stride))
    if found[-1] != length - patch:
        found.append(length - patch)
    return found


def _uint8(path: Path, channels: int) -> np.ndarray:
    arr = np.asarray(load_image(path, channels))
    return arr[:, :, None] if arr.ndim == 2 else arr


def _as_float(patch: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(patch.transpose(2, 0, 1))).float().div_(127.5).sub_(1.0)


class _Images:
    """Decoded images by index: held (as uint8) while they fit, else decoded again with a small cache."""

    def __init__(self, paths: list[Path], sizes: list[tuple[int, int]], channels: int):
        self.paths, self.channels = paths, channels
        total = sum(w * h * channels for w, h in sizes)
        self.held = [_uint8(p, channels) for p in paths] if total <= HOLD_BYTES else None
        self._decode = functools.lru_cache(maxsize=8)(lambda i: _uint8(self.paths[i], self.channels))

    def __getitem__(self, i: int) -> np.ndarray:
        return self.held[i] if self.held is not None else self._decode(i)


def _screened(root: Path, channels: int, bad_images: str, max_pixels: int, smallest: int):
    """The usable images under `root` with their sizes, and the screen that judged them."""
    if root.is_file():
        raise UserError(f"--data {root} is a file; give the folder that holds the images")
    found = list_images(root)
    if not found:
        raise UserError(f"data folder {root} holds no images ({', '.join(IMAGE_EXTENSIONS)}); put images in it")
    screen = Screen(bad_images, pixel_limit(max_pixels, smallest))
    kept = []
    for path in found:
        size = screen.size(path)
        if size is None:
            continue
        if min(size) < smallest:
            screen.reject(UserError(f"image {path} is {size[0]}x{size[1]}, smaller than a {smallest}-pixel patch"))
            continue
        kept.append((path, size))
    if not kept:
        raise UserError(
            f"none of the {len(found)} images in {root} can be cut into {smallest}x{smallest} patches, e.g. "
            f"{screen.skipped[0]}; use a smaller --image-size"
        )
    return [p for p, _ in kept], [s for _, s in kept], screen


class _Patches(ImageDataset):
    """What the two kinds of patches share: an `index` of (image, y, x) and the screen of their files."""

    index: list[tuple[int, int, int]]
    paths: list[Path]
    screen: Screen

    def __len__(self) -> int:
        return len(self.index)

    def notes(self) -> list[str]:
        return self.screen.notes(len(self.paths))


class ImagePatches(_Patches):
    """Every `patch` x `patch` square of every image under `root` (see the module doc), in [-1, 1]."""

    def __init__(self, root: Path, split: str, patch: int, channels: int, bad_images: str = "skip",
                 max_pixels: int = 0):  # fmt: skip
        self.root, self.patch = Path(root), patch
        folder, self.unsplit = split_root(self.root, split)
        self.paths, sizes, self.screen = _screened(folder, channels, bad_images, max_pixels, patch)
        self.images = _Images(self.paths, sizes, channels)
        self.in_memory = self.images.held is not None  # type: ignore[misc]
        self.index = [(k, y, x) for k, (w, h) in enumerate(sizes) for y in starts(h, patch) for x in starts(w, patch)]

    def describe(self) -> str:
        return f"{len(self)} patches of {self.patch}x{self.patch} from {len(self.paths)} images in {self.root}"

    def __getitem__(self, i: int) -> torch.Tensor:
        k, y, x = self.index[i]
        return _as_float(self.images[k][y : y + self.patch, x : x + self.patch])

    def photographs(self) -> Iterator[tuple[str, None, torch.Tensor]]:
        """(name, None, image) of each image, whole: evaluation scores full photographs."""
        for k, path in enumerate(self.paths):
            yield path.relative_to(self.root).as_posix(), None, _as_float(self.images[k])


def _pairs_root(root: Path) -> bool:
    return (root / "LR").is_dir() and (root / "HR").is_dir()


def has_pairs(root: Path) -> bool:
    """Whether a folder holds LR/ and HR/ pairs, itself or in its split folders."""
    return _pairs_root(root) or any(_pairs_root(root / s) for s in SPLITS)


class PairedPatches(_Patches):
    """Patches of explicit pairs: `root`/LR and `root`/HR (or `root`/train/LR, ...), matched by their names
    without extension; an HR patch of `patch` pixels and its LR patch of `patch // scale`."""

    def __init__(self, root: Path, split: str, patch: int, scale: int, channels: int, bad_images: str = "skip",
                 max_pixels: int = 0):  # fmt: skip
        self.root, self.patch, self.scale = Path(root), patch, scale
        folder, self.unsplit = split_root(self.root, split)
        low, self.paths, sizes, self.screen = self._match(folder, channels, bad_images, max_pixels)
        low_sizes = [(w // scale, h // scale) for w, h in sizes]
        self.images, self.low = _Images(self.paths, sizes, channels), _Images(low, low_sizes, channels)
        self.in_memory = self.images.held is not None  # type: ignore[misc]
        p = patch // scale
        self.index = [(k, y, x) for k, (w, h) in enumerate(low_sizes) for y in starts(h, p) for x in starts(w, p)]

    def _match(self, folder: Path, channels: int, bad_images: str, max_pixels: int):
        high_paths, sizes, screen = _screened(folder / "HR", channels, bad_images, max_pixels, self.patch)
        lows = {p.relative_to(folder / "LR").with_suffix("").as_posix(): p for p in list_images(folder / "LR")}
        low, high, kept = [], [], []
        for path, (w, h) in zip(high_paths, sizes, strict=True):
            name = path.relative_to(folder / "HR").with_suffix("").as_posix()
            if name not in lows:
                raise UserError(f"{path} has no LR image of the same name in {folder / 'LR'}; add it or remove it")
            lw, lh = (screen.size(lows[name]) or (0, 0))[:2]
            if (lw * self.scale, lh * self.scale) != (w - w % self.scale, h - h % self.scale):
                raise UserError(
                    f"{lows[name]} is {lw}x{lh} and its HR image {path} is {w}x{h}: not {self.scale} times it "
                    f"(model.scale={self.scale}); give pairs of that scale or set model.scale"
                )
            low.append(lows[name])
            high.append(path)
            kept.append((w - w % self.scale, h - h % self.scale))
        return low, high, kept, screen

    def describe(self) -> str:
        return f"{len(self)} patch pairs (x{self.scale}) from {len(self.paths)} LR/HR images in {self.root}"

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        k, y, x = self.index[i]
        p, s = self.patch // self.scale, self.scale
        low = self.low[k][y : y + p, x : x + p]
        high = self.images[k][y * s : (y + p) * s, x * s : (x + p) * s]
        return _as_float(low), _as_float(high)

    def photographs(self) -> Iterator[tuple[str, torch.Tensor, torch.Tensor]]:
        """(name, LR image, HR image) of each pair, whole."""
        for k, path in enumerate(self.paths):
            low = self.low[k]
            h, w = low.shape[0] * self.scale, low.shape[1] * self.scale
            yield path.name, _as_float(low), _as_float(self.images[k][:h, :w])
