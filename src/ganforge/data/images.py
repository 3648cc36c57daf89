"""Image file IO shared by the data sets: listing, robust loading, tensor conversion, resizing.

Images in ganforge are float32 tensors (C, H, W) with values in [-1, 1]; on disk they are whatever Pillow
reads. Every failure to read a file becomes a one-line :class:`UserError` that names the file.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from ganforge.errors import UserError, one_line

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".bmp")

_MODES = {1: "L", 3: "RGB"}
# Exceptions Pillow raises for a truncated, corrupt or hostile file.
_READ_ERRORS = (
    OSError,
    ValueError,
    SyntaxError,
    EOFError,
    UnidentifiedImageError,
    Image.DecompressionBombError,
)
# EXIF orientations that rotate by 90 degrees and so swap width and height.
_TRANSPOSING_ORIENTATIONS = {5, 6, 7, 8}
_EXIF_ORIENTATION = 0x0112


def is_image_file(path: Path) -> bool:
    """True for a visible file whose extension (any case) is in IMAGE_EXTENSIONS."""
    return path.suffix.lower() in IMAGE_EXTENSIONS and not path.name.startswith(".")


def list_images(root: Path) -> list[Path]:
    """All image files under ``root``, recursively, sorted by their path relative to ``root``.

    Hidden files and folders (name starting with ".", such as macOS ``._x.png`` resource forks) are skipped.
    A missing ``root`` gives an empty list; callers decide whether that is an error.
    """
    root = Path(root)
    if not root.is_dir():
        return []
    found = []
    for path in root.rglob("*"):
        rel = path.relative_to(root)
        if any(part.startswith(".") for part in rel.parts):
            continue
        if is_image_file(path) and path.is_file():
            found.append(path)
    return sorted(found, key=lambda p: p.relative_to(root).as_posix())


def _read_error(path: Path, err: BaseException) -> UserError:
    reason = one_line(err) or type(err).__name__
    return UserError(f"cannot read image {path}: {reason}; remove or replace it")


def _check_not_empty(path: Path) -> None:
    if path.stat().st_size == 0:
        raise UserError(f"image {path} is empty (0 bytes); remove or replace it")


def read_size(path: Path) -> tuple[int, int]:
    """(width, height) of the image as :func:`load_image` will return it, reading only the file header.

    Accounts for an EXIF rotation stored in the header (JPEG, WebP). Raises UserError for an unreadable file.
    """
    path = Path(path)
    try:
        _check_not_empty(path)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                width, height = img.size
                raw_exif = img.info.get("exif")
                if raw_exif:
                    exif = Image.Exif()
                    exif.load(raw_exif)
                    if exif.get(_EXIF_ORIENTATION) in _TRANSPOSING_ORIENTATIONS:
                        width, height = height, width
    except _READ_ERRORS as err:
        raise _read_error(path, err) from None
    return width, height


def _sixteen_bit_to_l(img: Image.Image) -> Image.Image:
    """Scale a 16/32-bit integer or float grey image to 8 bits (Pillow's own convert clips at 255)."""
    arr = np.asarray(img)
    # "I;16*" images hold 0..65535; "I" is how 16-bit PNGs used to open, so assume the same range.
    scaled = np.clip(arr, 0.0, 255.0) if img.mode == "F" else np.clip(arr.astype(np.float64), 0.0, 65535.0) / 257.0
    return Image.fromarray(np.round(scaled).astype(np.uint8))


def _flatten_alpha(img: Image.Image) -> Image.Image:
    """Composite an image with transparency onto white, so transparent areas do not show hidden colours."""
    rgba = img.convert("RGBA")
    background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    return Image.alpha_composite(background, rgba).convert("RGB")


def load_image(path: Path, channels: int) -> Image.Image:
    """Read an image file as a fully loaded Pillow image in mode "L" (channels=1) or "RGB" (channels=3).

    Applies the EXIF orientation, flattens transparency onto white, maps palette images through their
    palette and scales 16-bit images down to 8 bits. An unreadable file raises UserError naming it.
    """
    if channels not in _MODES:
        raise ValueError(f"channels must be 1 or 3, got {channels}")
    path = Path(path)
    try:
        _check_not_empty(path)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as opened:
                opened.load()
                img = ImageOps.exif_transpose(opened)
                if img is opened:
                    img = opened.copy()
    except _READ_ERRORS as err:
        raise _read_error(path, err) from None

    if img.mode.startswith("I") or img.mode == "F":
        img = _sixteen_bit_to_l(img)
    elif img.mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
    elif img.mode in ("L", "RGB") and "transparency" in img.info:
        # A tRNS colour key: one colour that is fully transparent.
        img = img.convert("RGBA" if img.mode == "RGB" else "LA")
    if img.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        img = _flatten_alpha(img)
    target = _MODES[channels]
    return img if img.mode == target else img.convert(target)


def to_tensor(img: Image.Image) -> torch.Tensor:
    """An 8-bit Pillow image ("L", "RGB", "RGBA", ...) as a float32 tensor (C, H, W) in [-1, 1]."""
    arr = np.asarray(img)
    if arr.dtype != np.uint8:
        raise ValueError(f"to_tensor needs an 8-bit image, got mode {img.mode!r}; use load_image first")
    if arr.ndim == 2:
        arr = arr[:, :, None]
    tensor = torch.from_numpy(arr.transpose(2, 0, 1).astype(np.float32))
    return tensor.div_(127.5).sub_(1.0)


def as_channels(images: torch.Tensor, channels: int) -> torch.Tensor:
    """Images (..., C, H, W) with `channels` channels, to be shown beside others: RGB to grey by the mean,
    grey to RGB by repetition."""
    c = images.shape[-3]
    if c == channels:
        return images
    if channels == 1:
        return images.mean(-3, keepdim=True)
    return images.mean(-3, keepdim=True).expand(*images.shape[:-3], channels, *images.shape[-2:])


def to_pil(t: torch.Tensor) -> Image.Image:
    """A tensor (C, H, W) in [-1, 1] with C = 1, 3 or 4 as an "L", "RGB" or "RGBA" image (values clamped).

    A 2-D tensor (H, W) is taken as one channel.
    """
    if t.ndim == 2:
        t = t.unsqueeze(0)
    if t.ndim != 3 or t.shape[0] not in (1, 3, 4):
        raise ValueError(f"to_pil needs a tensor (C, H, W) with C in 1, 3, 4, got shape {tuple(t.shape)}")
    arr = ((t.detach().float().cpu().clamp(-1.0, 1.0) + 1.0) * 127.5).round().to(torch.uint8).numpy()
    if arr.shape[0] == 1:
        return Image.fromarray(arr[0])  # uint8 (H, W) -> "L"
    return Image.fromarray(np.ascontiguousarray(arr.transpose(1, 2, 0)))  # (H, W, 3|4) -> "RGB"|"RGBA"


CROPS = ("center", "pad", "none")


def fit_square(img: Image.Image, size: int, crop: str = "center") -> Image.Image:
    """`img` as size x size: `center` crops the middle (resize_center_crop, what training on a folder does),
    `pad` fits the whole image and pads the rest with black, `none` stretches it (the aspect ratio is lost)."""
    if crop == "center":
        return resize_center_crop(img, size)
    if crop == "none":
        return img if img.size == (size, size) else img.resize((size, size), _resample(size / min(img.size)))
    scale = size / max(img.size)
    inner = (max(1, round(img.width * scale)), max(1, round(img.height * scale)))
    fitted = img if inner == img.size else img.resize(inner, _resample(scale))
    canvas = Image.new(img.mode, (size, size))
    canvas.paste(fitted, ((size - inner[0]) // 2, (size - inner[1]) // 2))
    return canvas


def _resample(scale: float) -> Image.Resampling:
    return Image.Resampling.LANCZOS if scale < 1.0 else Image.Resampling.BICUBIC


def resize_center_crop(img: Image.Image, size: int) -> Image.Image:
    """Scale ``img`` so its short side is ``size`` (aspect ratio kept), then cut the central size x size.

    Lanczos when shrinking (sharp, no aliasing), bicubic when enlarging (less ringing).
    """
    if size < 1:
        raise ValueError(f"size must be positive, got {size}")
    width, height = img.size
    if (width, height) == (size, size):
        return img
    scale = size / min(width, height)
    new_w = max(size, round(width * scale))
    new_h = max(size, round(height * scale))
    if (new_w, new_h) != (width, height):
        shrinking = scale < 1.0
        resample = Image.Resampling.LANCZOS if shrinking else Image.Resampling.BICUBIC
        img = img.resize((new_w, new_h), resample=resample, reducing_gap=3.0 if shrinking else None)
    left = (new_w - size) // 2
    top = (new_h - size) // 2
    return img.crop((left, top, left + size, top + size))
