"""Pieces shared by every model family: weight initialisation, Keras-style parameter counts, image-size
checks, and `center_crop` (an unpadded U-Net's skips and outputs are smaller than its input)."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from ..errors import UserError

INIT_SCHEMES = ("normal", "keras", "torch")


def init_weights(module: nn.Module, scheme: str = "normal") -> None:
    """Initialise convolutions, linear layers and batch norms in place.

    normal: N(0, 0.02) weights, BN gamma N(1, 0.02) (DCGAN paper, pix2pix tutorial).
    keras:  Glorot-uniform weights and zero biases, BN gamma 1 (the Keras defaults the TF seeds use).
    torch:  leave PyTorch's own initialisation.
    """
    if scheme not in INIT_SCHEMES:
        raise ValueError(f"unknown init scheme {scheme!r}; choose one of {', '.join(INIT_SCHEMES)}")
    if scheme == "torch":
        return
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            if scheme == "normal":
                nn.init.normal_(m.weight, 0.0, 0.02)
            else:
                nn.init.xavier_uniform_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            if scheme == "normal":
                nn.init.normal_(m.weight, 1.0, 0.02)
            else:
                nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


def count_parameters(module: nn.Module, with_bn_stats: bool = False) -> int:
    """Number of parameters; with_bn_stats adds BN running mean and variance as Keras counts them."""
    total = sum(p.numel() for p in module.parameters())
    if with_bn_stats:
        for m in module.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats:
                total += m.running_mean.numel() + m.running_var.numel()
    return total


# The largest image a family trains: activations grow with the square of the size, and past this a
# step needs more memory than any one device has; larger images are trained as crops or downscaled.
MAX_IMAGE_SIZE = 2048


def require_image_size(
    size: int, fits: Callable[[int], bool], family: str, rule: str, largest: int = MAX_IMAGE_SIZE
) -> None:
    """A UserError naming `data.image_size` and the nearest sizes that fit, unless `fits(size)`."""
    if size > largest:
        raise UserError(
            f"data.image_size={size} is too large for the {family} model ({largest} at most: its memory grows "
            f"with the square of the size); use --image-size {largest} or less, on crops or downscaled images"
        )
    if fits(size):
        return
    below = next((s for s in range(size - 1, 0, -1) if fits(s)), None)
    above = next((s for s in range(size + 1, 4 * size + 256) if fits(s)), None)
    nearest = " or ".join(str(s) for s in (below, above) if s)
    raise UserError(
        f"data.image_size={size} does not fit the {family} model ({rule}); use image size {nearest} (--image-size)"
    )


def is_power_of_two(size: int) -> bool:
    return size > 0 and size & (size - 1) == 0


def center_crop(x: torch.Tensor, size: tuple[int, int] | torch.Size) -> torch.Tensor:
    """The middle `size[-2:]` of `x`: an unpadded U-Net's skips and outputs are smaller than its input."""
    h, w = x.shape[-2:]
    th, tw = size[-2], size[-1]
    top, left = (h - th) // 2, (w - tw) // 2
    return x[..., top : top + th, left : left + tw]
