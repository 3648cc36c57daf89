"""A built-in paired data set that needs no download: label maps of shapes -> shaded renderings.

The input is a flat label map: circles, rectangles and triangles on a background, each class one flat
colour. The target renders the same scene: a different colour per class, bevelled edges lit from the upper
left (a blurred height field), a gloss highlight on some classes, a soft drop shadow towards the lower
right and a dark inner outline. The target is a deterministic function of the input that depends on each
pixel's neighbourhood (a few pixels for the bevel and outline, about ten for the shadow), so a U-Net can
learn it while neither the input nor any per-colour lookup reproduces it.

Scenes are drawn in chunks of 256 from their own random stream (seed, split, chunk), with shape geometry in
units of the image size: the first k images of a set are the same whatever ``n`` is, the same scenes come
out at any ``image_size``, and train, val and test come from independent streams of continuous draws, so
they share no scene.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import torch

from ganforge.data.base import ImageDataset
from ganforge.errors import UserError
from ganforge.filters import gaussian_blur

SPLITS = ("train", "val", "test")
CLASS_NAMES = ("background", "circle", "rectangle", "triangle")
# Flat input colours, one per class (index = label).
INPUT_PALETTE = np.array([[0, 0, 0], [255, 64, 64], [64, 224, 64], [64, 96, 255]], dtype=np.uint8)
# Target material per class: albedo (RGB in [0, 1]), relief height and gloss strength.
_ALBEDO = np.array([[0.92, 0.89, 0.80], [0.80, 0.22, 0.18], [0.22, 0.52, 0.80], [0.95, 0.74, 0.18]], dtype=np.float32)
_HEIGHT = np.array([0.0, 1.0, 0.6, 0.8], dtype=np.float32)
_GLOSS = np.array([0.0, 0.55, 0.0, 0.3], dtype=np.float32)

_CHUNK = 256
_MAX_SHAPES = 5
_RENDER_PIXELS = 1 << 20  # pixels rendered at a time
_GEOMETRY = ("cx", "cy", "radius", "aspect", "theta")
_STREAM_TAG = 0x5A9E5  # keeps these streams apart from other seeded draws in ganforge

_LIGHT = np.array([-1.0, -1.0, 1.4], dtype=np.float32) / np.float32(math.sqrt(1.0 + 1.0 + 1.4**2))
_HALF = _LIGHT + np.array([0.0, 0.0, 1.0], dtype=np.float32)
_HALF /= np.linalg.norm(_HALF)


LARGEST = 512  # the largest image size drawn: 1,000 pairs at 512x512 take 1.5 GB


def _scene_params(seed: int, split: str, chunk: int) -> dict[str, np.ndarray]:
    """Random scene parameters for one chunk of _CHUNK images, in units of the image size."""
    rng = np.random.default_rng([_STREAM_TAG, seed, SPLITS.index(split), chunk])
    shape = (_CHUNK, _MAX_SHAPES)
    return {
        "count": rng.integers(2, _MAX_SHAPES + 1, size=_CHUNK),
        "cls": rng.integers(1, len(CLASS_NAMES), size=shape),
        "cx": rng.uniform(0.12, 0.88, size=shape),
        "cy": rng.uniform(0.12, 0.88, size=shape),
        "radius": rng.uniform(0.09, 0.2, size=shape),
        "aspect": rng.uniform(0.45, 1.0, size=shape),
        "theta": rng.uniform(0.0, 2.0 * math.pi, size=shape),
    }


def _draw_labels(params: dict[str, np.ndarray], count: int, size: int) -> np.ndarray:
    """Paint the first ``count`` scenes of a chunk as label maps (count, size, size), later shapes on top."""
    labels = np.zeros((count, size, size), dtype=np.uint8)
    coords = (np.arange(size, dtype=np.float32) + 0.5) / size  # pixel centres in [0, 1]
    for slot in range(_MAX_SHAPES):
        active = params["count"][:count] > slot
        for cls in range(1, len(CLASS_NAMES)):
            idx = np.nonzero(active & (params["cls"][:count, slot] == cls))[0]
            if idx.size == 0:
                continue

            p = {k: params[k][idx, slot].astype(np.float32)[:, None, None] for k in _GEOMETRY}
            dx = coords[None, None, :] - p["cx"]
            dy = coords[None, :, None] - p["cy"]
            r = p["radius"]
            if CLASS_NAMES[cls] == "circle":
                mask = dx * dx + dy * dy <= r * r
            else:
                cos, sin = np.cos(p["theta"]), np.sin(p["theta"])
                u = dx * cos + dy * sin
                if CLASS_NAMES[cls] == "rectangle":
                    v = dy * cos - dx * sin
                    mask = (np.abs(u) <= r) & (np.abs(v) <= r * p["aspect"])
                else:  # equilateral triangle: three half-planes 120 degrees apart, inradius 0.6 r
                    mask = u <= 0.6 * r
                    for k in (1, 2):
                        a = 2.0 * math.pi * k / 3.0
                        ca, sa = math.cos(a), math.sin(a)
                        mask &= u * ca + (dy * cos - dx * sin) * sa <= 0.6 * r
            view = labels[idx]
            view[mask] = cls
            labels[idx] = view
    return labels


def _blur(x: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur over the last two axes of float32 (N, H, W), edges extended."""
    return gaussian_blur(torch.from_numpy(x)[:, None], sigma, "replicate")[:, 0].numpy()


def labels_to_input(labels: np.ndarray) -> np.ndarray:
    """Label maps (N, H, W) as flat-coloured input images (N, H, W, 3) uint8."""
    return INPUT_PALETTE[labels]


def input_to_labels(images: np.ndarray) -> np.ndarray:
    """Inverse of :func:`labels_to_input` for (N, H, W, 3) uint8 images: the nearest palette colour."""
    dist = ((images[..., None, :].astype(np.int32) - INPUT_PALETTE.astype(np.int32)) ** 2).sum(-1)
    return dist.argmin(-1).astype(np.uint8)


def render_target(labels: np.ndarray) -> np.ndarray:
    """Render label maps (N, H, W) into shaded target images (N, H, W, 3) uint8; depends on labels only."""
    _, height, width = labels.shape
    scale = min(height, width) / 64.0  # effects are sized for 64 px and scale with the image

    # Bevel: light a blurred height field from the upper left (Lambert), plus a glint on glossy classes.
    relief = _HEIGHT[labels]
    grad_y, grad_x = np.gradient(_blur(relief, 1.2 * scale), axis=(1, 2))
    steep = np.float32(-3.0 * scale)
    grad_x *= steep  # now the x and y parts of the surface normal (nx, ny, 1), unnormalised
    grad_y *= steep
    inv_norm = 1.0 / np.sqrt(grad_x * grad_x + grad_y * grad_y + 1.0)
    diffuse = np.clip((grad_x * _LIGHT[0] + grad_y * _LIGHT[1] + _LIGHT[2]) * inv_norm, 0.0, 1.0)
    shade = 0.3 + (0.7 / _LIGHT[2]) * diffuse  # 1.0 on flat areas, brighter facing the light
    # Flat areas face the half vector a little too; measure the glint from there so only edges shine.
    flat_h = _HALF[2]
    glint = (grad_x * _HALF[0] + grad_y * _HALF[1] + _HALF[2]) * inv_norm
    glint = np.clip((glint - flat_h) / (1.0 - flat_h), 0.0, 1.0)
    glint *= glint
    glint *= glint * _GLOSS[labels]

    # Soft drop shadow: what stands higher a few pixels to the upper left darkens this pixel.
    shift = max(1, round(3 * scale))
    caster = np.zeros_like(relief)
    caster[:, shift:, shift:] = relief[:, :-shift, :-shift]
    darken = 1.0 - 0.5 * np.clip(_blur(caster, 1.5 * scale) - relief, 0.0, 1.0)

    # Dark inner outline on shape pixels next to a different label.
    edge = np.zeros(labels.shape, dtype=bool)
    for step in range(1, max(1, round(scale)) + 1):
        edge[:, step:, :] |= labels[:, step:, :] != labels[:, :-step, :]
        edge[:, :-step, :] |= labels[:, :-step, :] != labels[:, step:, :]
        edge[:, :, step:] |= labels[:, :, step:] != labels[:, :, :-step]
        edge[:, :, :-step] |= labels[:, :, :-step] != labels[:, :, step:]
    edge &= labels > 0
    darken[edge] *= 0.35

    # colour = (albedo * shade + glint) * darken, clipped to [0, 1] and stored as 8 bits.
    colour = _ALBEDO[labels]
    colour *= (shade * darken)[..., None]
    colour += (glint * darken)[..., None]
    np.clip(colour, 0.0, 1.0, out=colour)
    colour *= 255.0
    colour += 0.5
    return colour.astype(np.uint8)


def make_labels(n: int, image_size: int, seed: int, split: str) -> np.ndarray:
    """The label maps (n, image_size, image_size) uint8 of a split, chunk by chunk."""
    parts = []
    for chunk in range(math.ceil(n / _CHUNK)):
        count = min(_CHUNK, n - chunk * _CHUNK)
        parts.append(_draw_labels(_scene_params(seed, split, chunk), count, image_size))
    return np.concatenate(parts) if parts else np.zeros((0, image_size, image_size), np.uint8)


@functools.lru_cache(maxsize=8)
def _build(n: int, image_size: int, seed: int, split: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    labels = make_labels(n, image_size, seed, split)
    inputs = np.empty((n, image_size, image_size, 3), dtype=np.uint8)
    targets = np.empty_like(inputs)
    step = max(1, _RENDER_PIXELS // (image_size * image_size))  # bounded float32 temporaries stay in cache
    for start in range(0, n, step):
        part = labels[start : start + step]
        inputs[start : start + step] = labels_to_input(part)
        targets[start : start + step] = render_target(part)
    as_chw = lambda a: torch.from_numpy(a).permute(0, 3, 1, 2).contiguous()  # noqa: E731
    return torch.from_numpy(labels), as_chw(inputs), as_chw(targets)


@functools.lru_cache(maxsize=4)
def unpaired_sides(n: int, image_size: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """An unpaired task from the same scenes (CycleGAN's kind): side A, the flat label maps of the first
    ``n`` training scenes; side B, the renderings of the next ``n``. No image of B renders a scene of A,
    so nothing pairs them; the true renderings of held-out label maps are the test split's pairs. uint8
    (n, 3, size, size) each."""
    labels = make_labels(2 * n, image_size, seed, "train")
    step = max(1, _RENDER_PIXELS // (image_size * image_size))
    rendered = np.concatenate([render_target(labels[i : i + step]) for i in range(n, 2 * n, step)])
    as_chw = lambda a: torch.from_numpy(a).permute(0, 3, 1, 2).contiguous()  # noqa: E731
    return as_chw(labels_to_input(labels[:n])), as_chw(rendered)


class ShapesPairs(ImageDataset):
    """``n`` pairs ``(input, target)`` of float32 (3, image_size, image_size) tensors in [-1, 1].

    Made deterministically from ``seed`` and ``split`` and held in memory (uint8, 6 KiB per pair at 64 px);
    data sets built with the same arguments share one copy, so treat ``inputs``, ``targets`` and ``labels``
    (uint8, N first) as read-only.
    """

    in_channels = 3
    out_channels = 3
    in_memory = True
    jitter_ok = False  # lit from the upper left: a mirrored pair would teach a different function

    def __init__(self, n: int = 1000, image_size: int = 64, seed: int = 0, split: str = "train") -> None:
        if split not in SPLITS:
            raise UserError(f"split must be one of {', '.join(SPLITS)}, got {split!r}; fix the split setting")
        if n < 1 or image_size < 8:
            raise UserError(
                f"shapes data set needs n >= 1 and image_size >= 8, got n={n}, image_size={image_size}; "
                "fix those settings"
            )
        if seed < 0:
            raise UserError(f"seed must be a non-negative integer, got {seed}; fix the seed setting")
        self.n, self.image_size, self.seed, self.split = n, image_size, seed, split
        self.labels, self.inputs, self.targets = _build(n, image_size, seed, split)

    def __len__(self) -> int:
        return self.n

    def describe(self) -> str:
        return f"{self.n} embedded shapes pairs ({self.split}), input label map -> target rendering"

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        source = self.inputs[index].float().div_(127.5).sub_(1.0)
        target = self.targets[index].float().div_(127.5).sub_(1.0)
        return source, target
