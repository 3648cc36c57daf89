"""Download and extract the pix2pix CMP facades archive (reading the image pairs is data/paired.py's job)."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from ganforge.data.download import cache_dir, cache_lock, extract_archive, fetch, remove_leftovers
from ganforge.errors import UserError

FACADES_FILENAME = "facades.tar.gz"
# The URL used by the pix2pix authors' download script first, then the same host over HTTPS.
FACADES_URLS: tuple[str, ...] = (
    "http://efrosgans.eecs.berkeley.edu/pix2pix/datasets/facades.tar.gz",
    "https://efrosgans.eecs.berkeley.edu/pix2pix/datasets/facades.tar.gz",
)
# MD5 of facades.tar.gz as listed next to this URL in a public pix2pix data set loader (the authors publish
# no checksum). Set to None to skip the check; the extracted layout is verified either way.
FACADES_MD5: str | None = "e2e25dd517e9d15828416ab329da2854"
FACADES_SPLITS: tuple[str, ...] = ("train", "val", "test")


def download_facades(cache: Path | None = None, base_url: str | None = None) -> Path:
    """Download and extract facades.tar.gz once; return the ``.../facades`` folder (train/, val/, test/).

    ``base_url`` is a folder URL holding ``facades.tar.gz`` (a mirror, or a file:// URL) used instead of the
    default ones.
    """
    root = Path(cache) if cache is not None else cache_dir()
    target = root / "facades"
    if not target.is_dir():
        try:
            root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UserError(f"cannot create the cache folder {root} ({exc.strerror}): set GANFORGE_CACHE") from None
        with cache_lock(root, "facades"):
            remove_leftovers(root, ".facades-extract-*")  # a killed extraction's
            return _download_facades(root, target, base_url)
    return _checked(target)


def _checked(target: Path) -> Path:
    if target.is_dir():
        missing = [split for split in FACADES_SPLITS if not (target / split).is_dir()]
        if missing:
            raise UserError(
                f"{target} is incomplete (no {', '.join(missing)} folder): delete it and run again to re-extract"
            )
    return target


def _download_facades(root: Path, target: Path, base_url: str | None) -> Path:
    if target.is_dir():  # another process finished while this one waited for the lock
        return _checked(target)
    urls = [base_url.rstrip("/") + "/" + FACADES_FILENAME] if base_url else list(FACADES_URLS)
    archive = fetch(urls[0], FACADES_FILENAME, md5=FACADES_MD5, cache=root, mirrors=urls[1:])

    # Extract beside the target and rename, so an interrupted run never leaves a half-filled folder.
    work = Path(tempfile.mkdtemp(dir=root, prefix=".facades-extract-"))
    try:
        extract_archive(archive, work)
        extracted = work / "facades"
        check_facades_layout(extracted, archive)
        try:
            os.replace(extracted, target)
        except OSError as exc:
            if not target.is_dir():  # another process may have finished first; otherwise it is a real error
                raise UserError(f"cannot move the extracted facades into {target} ({exc}): check permissions") from exc
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return target


def check_facades_layout(folder: Path, source: Path) -> None:
    """Check ``folder`` has train/val/test folders of JPEGs twice as wide as high (input | target pairs).

    ``source`` is the file named in the error message (the archive the folder came from).
    """
    hint = "delete it and download it again"
    if not folder.is_dir():
        raise UserError(f"{source} has no top-level 'facades' folder, so it is not the pix2pix facades archive: {hint}")
    for split in FACADES_SPLITS:
        split_dir = folder / split
        images = sorted(split_dir.glob("*.jpg")) if split_dir.is_dir() else []
        if not images:
            raise UserError(f"{source} has no JPEG images in facades/{split}: {hint}")
        for image_path in images:
            try:
                with Image.open(image_path) as image:
                    width, height = image.size
            except (UnidentifiedImageError, OSError) as exc:
                raise UserError(
                    f"{source}: facades/{split}/{image_path.name} is not a readable image ({exc}): {hint}"
                ) from exc
            if width != 2 * height:
                raise UserError(
                    f"{source}: facades/{split}/{image_path.name} is {width}x{height}, "
                    f"expected a side-by-side pair twice as wide as high: {hint}"
                )
