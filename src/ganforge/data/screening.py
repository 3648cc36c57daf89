"""What a folder data set does with a file it cannot use (`data.bad_images`).

A file is unusable when Pillow cannot read it (zero bytes, truncated, corrupt, not an image under an image
extension, a decompression bomb over Pillow's limit), when it is too small to train on (its short side
below 8 pixels: a 1x1 image upscaled is one flat colour), or when it has more pixels than the run's limit
(`data.max_pixels`; 0, the default, is the larger of 64 Mpix and 1024 training images: a file with a
small header that would decode to a gigabyte in every loader process is a decompression bomb). Images
that can be converted are converted, not screened out (images.py: CMYK, palettes, transparency, 16-bit,
EXIF rotation).

- `skip` (the default): the data set leaves the file out, and the run's log counts and names what was
  left out. A file that passes the header check but fails to decode mid-run (a truncated JPEG) is
  replaced by the next readable item, with a warning on the console.
- `strict`: the first unusable file stops the run, in one line that names it. Every file is decoded once
  when the data set is made, so a truncated one stops the run before training, not in its middle.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from ..config.vocab import BAD_IMAGE_POLICIES
from ..errors import UserError
from .images import load_image, read_size

SMALLEST_SIDE = 8
AUTO_PIXELS = 64 * 2**20  # the auto limit's floor: a 48-megapixel photograph passes
SHOWN = 3  # files named in the summary line

T = TypeVar("T")


def pixel_limit(max_pixels: int, image_size: int) -> int:
    """The most pixels an image may have: `data.max_pixels`, or for 0 (auto) the larger of AUTO_PIXELS
    and 1024 training images' worth."""
    return max_pixels or max(AUTO_PIXELS, 1024 * image_size * image_size)


def check_pixels(path: Path, width: int, height: int, limit: int, fix: str = "raise data.max_pixels") -> None:
    """A UserError for an image with more pixels than `limit`."""
    if width * height > limit:
        raise UserError(
            f"image {path} is {width}x{height} ({width * height / 1e6:.0f} megapixels), over this run's limit of "
            f"{limit / 1e6:.0f} (a decompression bomb, or a very large image); remove it or {fix}"
        )


class Screen:
    """The `policy` applied to the files of one data set; `skipped` holds one reason per file left out.
    `max_pixels`: the limit of `pixel_limit` (0: none)."""

    def __init__(self, policy: str = "strict", max_pixels: int = 0):
        if policy not in BAD_IMAGE_POLICIES:
            raise UserError(f"data.bad_images is {policy!r}; choose one of {', '.join(BAD_IMAGE_POLICIES)}")
        self.policy, self.max_pixels = policy, max_pixels
        self.skipped: list[str] = []
        self._warned: set[Path] = set()

    def size(self, path: Path, halves: int = 1) -> tuple[int, int] | None:
        """(width, height) of an image file, or None where the policy skips it. `halves=2` checks each half
        of a side-by-side pair for the size rule."""
        try:  # strict is sure before training: each file decoded once, not only its header read
            width, height = read_size(path)
            if self.max_pixels:
                check_pixels(path, width, height, self.max_pixels)
            if self.policy == "strict":
                load_image(path, 3)
        except UserError as error:
            return self.reject(error)
        if min(width // halves, height) < SMALLEST_SIDE:
            shown = f"{width}x{height}" + (" (two halves)" if halves > 1 else "")
            return self.reject(
                UserError(
                    f"image {path} is {shown}, too small to train on (its short side must be at least "
                    f"{SMALLEST_SIDE} pixels); remove it"
                )
            )
        return width, height

    def reject(self, error: UserError) -> None:
        """Skip the file `error` names, or, under `strict`, raise the error."""
        self._stop_if_strict(error)
        self.skipped.append(str(error))

    def _stop_if_strict(self, error: UserError) -> None:
        if self.policy == "strict":
            raise UserError(f"{error} (or set data.bad_images=skip to leave such files out)") from None

    def notes(self, kept: int, items: str = "image files") -> list[str]:
        """The log's line on what was left out, if anything was (`items`: what the data set counts)."""
        if not self.skipped:
            return []
        total = kept + len(self.skipped)
        more = f"; and {len(self.skipped) - SHOWN} more" if len(self.skipped) > SHOWN else ""
        return [
            f"note: left out {len(self.skipped)} of {total} {items} (data.bad_images=skip; strict stops "
            f"instead): {'; '.join(self.skipped[:SHOWN])}{more}"
        ]

    def first_readable(self, load: Callable[[int], T], index: int, count: int, path_of: Callable[[int], Path]) -> T:
        """`load(index)`; under `skip`, where that file fails to decode, the next item that loads (the same
        one every time, so a resumed run sees the same batches)."""
        for offset in range(count):
            i = (index + offset) % count
            try:
                return load(i)
            except UserError as error:
                self._stop_if_strict(error)
                if path_of(i) not in self._warned:
                    self._warned.add(path_of(i))
                    print(f"ganforge: warning: {error}; using the next item (data.bad_images=skip)", file=sys.stderr)
        raise UserError(f"none of the {count} image files could be read; check the data folder")
