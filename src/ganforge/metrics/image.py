"""Differentiable full-reference image quality measures: PSNR, SSIM, GMSD and total variation.

Every function takes float images shaped (N, C, H, W) and returns one value per image, shape (N,);
the ``*_loss`` functions return the batch mean as a scalar. They serve both as evaluation metrics and
as training losses, so they are differentiable with finite gradients everywhere, identical inputs
included.

Mixed precision: the arithmetic is done in float32 (float64 stays float64) with autocast switched
off inside, so float16 / bfloat16 inputs and ``torch.autocast`` regions are safe; the result is
float32 (or float64).

``data_range`` is max minus min of the value range the images live in: 2.0 for the toolkit's
[-1, 1] images (the default), 1.0 for [0, 1], 255.0 for [0, 255].
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from ..filters import gaussian_taps

__all__ = [
    "GMSD_C",
    "PSNR_MAX_DB",
    "gmsd",
    "gmsd_loss",
    "psnr",
    "ssim",
    "ssim_loss",
    "total_variation",
    "tv_loss",
]

# Reference GMSD code (Xue et al.) works on [0, 255] grey images with T = 170; on [0, 1] that is
# 170 / 255**2 = 0.0026144..., the paper's "c = 0.0026".
GMSD_C: float = 170.0 / 255.0**2

# Luma weights of MATLAB's rgb2gray, which the GMSD authors apply to colour images before GMSD.
_RGB_TO_GREY = (0.2989, 0.5870, 0.1140)

# Keeps sqrt differentiable at 0 (gradient magnitude of flat regions, deviation of identical maps).
_SQRT_EPS = 1e-12

# PSNR of identical images is capped here instead of being +inf.
PSNR_MAX_DB: float = 100.0


@contextmanager
def _float32_region(device: torch.device) -> Iterator[None]:
    """Turn autocast off for ``device`` so that convolutions and divisions stay in full precision."""
    with torch.autocast(device_type=device.type, enabled=False):
        yield


def _compute_dtype(x: Tensor) -> torch.dtype:
    return torch.promote_types(x.dtype, torch.float32)


def _check_images(x: Tensor, name: str = "x") -> None:
    if x.dim() != 4:
        raise ValueError(f"{name} must be shaped (N, C, H, W), got shape {tuple(x.shape)}")
    if not x.is_floating_point():
        raise ValueError(f"{name} must be a float tensor, got {x.dtype}")


def _check_pair(pred: Tensor, target: Tensor) -> None:
    _check_images(pred, "pred")
    _check_images(target, "target")
    if pred.shape != target.shape:
        raise ValueError(f"pred and target shapes differ: {tuple(pred.shape)} vs {tuple(target.shape)}")


def _check_range(data_range: float) -> None:
    if not data_range > 0:
        raise ValueError(f"data_range must be positive, got {data_range}")


# --------------------------------------------------------------------------------------------- PSNR


def psnr(pred: Tensor, target: Tensor, data_range: float = 2.0) -> Tensor:
    """Peak signal-to-noise ratio in dB per image, ``10 log10(data_range**2 / MSE)``, MSE over C, H, W.

    Identical images would give +inf; the result is capped at ``PSNR_MAX_DB`` (100 dB) instead, so
    batch means stay finite and the gradient there is 0.
    """
    _check_pair(pred, target)
    _check_range(data_range)
    dtype = _compute_dtype(pred)
    with _float32_region(pred.device):
        diff = pred.to(dtype) - target.to(dtype)
        mse = diff.square().flatten(1).mean(dim=1)
        min_mse = data_range**2 * 10.0 ** (-PSNR_MAX_DB / 10.0)
        return 10.0 * torch.log10(data_range**2 / mse.clamp_min(min_mse))


# --------------------------------------------------------------------------------------------- SSIM


def ssim(
    pred: Tensor,
    target: Tensor,
    data_range: float = 2.0,
    window_size: int = 11,
    sigma: float = 1.5,
    k1: float = 0.01,
    k2: float = 0.03,
) -> Tensor:
    """Structural similarity (Wang et al. 2004) per image, averaged over channels and positions.

    Local statistics use a Gaussian window (separable, depthwise conv2d) over the 'valid' region only
    (no padding) and population (co)variances, so with the defaults it equals scikit-image's
    ``structural_similarity(..., gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
    data_range=data_range, channel_axis=...)``. Images must be at least ``window_size`` on each side.
    """
    _check_pair(pred, target)
    _check_range(data_range)
    if window_size < 1 or window_size % 2 == 0:
        raise ValueError(f"window_size must be a positive odd integer, got {window_size}")
    if sigma <= 0:
        raise ValueError(f"sigma must be positive, got {sigma}")
    n, c, h, w = pred.shape
    if h < window_size or w < window_size:
        raise ValueError(f"SSIM window {window_size} is larger than the {h}x{w} images")

    dtype = _compute_dtype(pred)
    with _float32_region(pred.device):
        x = pred.to(dtype)
        y = target.to(dtype)
        # Five maps per channel, filtered in one grouped convolution.
        maps = torch.cat([x, y, x * x, y * y, x * y], dim=1)
        taps = gaussian_taps(sigma, (window_size - 1) // 2, dtype, pred.device)
        groups = maps.shape[1]
        kernel_h = taps.view(1, 1, 1, window_size).expand(groups, 1, 1, window_size)
        kernel_v = taps.view(1, 1, window_size, 1).expand(groups, 1, window_size, 1)
        local = F.conv2d(F.conv2d(maps, kernel_h, groups=groups), kernel_v, groups=groups)
        mu_x, mu_y, e_xx, e_yy, e_xy = local.split(c, dim=1)

        var_x = e_xx - mu_x * mu_x
        var_y = e_yy - mu_y * mu_y
        cov_xy = e_xy - mu_x * mu_y
        c1 = (k1 * data_range) ** 2
        c2 = (k2 * data_range) ** 2
        numerator = (2.0 * mu_x * mu_y + c1) * (2.0 * cov_xy + c2)
        denominator = (mu_x * mu_x + mu_y * mu_y + c1) * (var_x + var_y + c2)
        ssim_map = numerator / denominator
        return ssim_map.flatten(1).mean(dim=1)


def ssim_loss(
    pred: Tensor,
    target: Tensor,
    data_range: float = 2.0,
    window_size: int = 11,
    sigma: float = 1.5,
    k1: float = 0.01,
    k2: float = 0.03,
) -> Tensor:
    """``1 - ssim`` averaged over the batch (scalar)."""
    values = ssim(pred, target, data_range, window_size=window_size, sigma=sigma, k1=k1, k2=k2)
    return (1.0 - values).mean()


# --------------------------------------------------------------------------------------------- GMSD


def _luminance(x: Tensor) -> Tensor:
    if x.shape[1] == 1:
        return x
    if x.shape[1] == 3:
        r, g, b = x.unbind(dim=1)
        return (_RGB_TO_GREY[0] * r + _RGB_TO_GREY[1] * g + _RGB_TO_GREY[2] * b).unsqueeze(1)
    raise ValueError(f"GMSD needs 1 (grey) or 3 (RGB) channels, got {x.shape[1]}")


def _pad(x: Tensor, pads: tuple[int, int, int, int], padding: str) -> Tensor:
    if not any(pads):
        return x
    if padding == "zeros":
        return F.pad(x, pads)
    return F.pad(x, pads, mode="replicate")


def gmsd(
    pred: Tensor,
    target: Tensor,
    data_range: float = 2.0,
    *,
    padding: Literal["replicate", "zeros"] = "replicate",
) -> Tensor:
    """Gradient Magnitude Similarity Deviation (Xue, Zhang, Mou, Bovik 2014) per image; 0 means identical.

    Follows the authors' reference MATLAB code: luminance (MATLAB ``rgb2gray`` weights for RGB, the
    channel itself for grey), 2x2 average then keep every second pixel (odd sizes padded at the
    bottom/right), Prewitt filters divided by 3 ('same' size), gradient magnitude, GMS map
    ``(2 m_r m_d + c) / (m_r**2 + m_d**2 + c)`` and its standard deviation (N - 1 normalisation, like
    MATLAB's ``std2``).
    Inputs are divided by ``data_range`` so c = ``GMSD_C`` = 170 / 255**2, the reference's T = 170 for
    [0, 255] images, applies exactly whatever the input range.

    ``padding`` fills the borders for the odd-size pooling and the Prewitt filter. The reference pads
    with zeros (black), which adds an artificial edge frame that depends on where black lies;
    "replicate" (default) avoids that and does not depend on an intensity offset, so it suits [-1, 1]
    images. With ``padding="zeros"`` and images in [0, data_range] the result is the reference's.
    """
    _check_pair(pred, target)
    _check_range(data_range)
    if padding not in ("replicate", "zeros"):
        raise ValueError(f"padding must be 'replicate' or 'zeros', got {padding!r}")
    h, w = pred.shape[-2:]
    if h < 4 or w < 4:
        raise ValueError(f"GMSD needs images of at least 4x4 pixels, got {h}x{w}")

    dtype = _compute_dtype(pred)
    with _float32_region(pred.device):
        both = torch.cat([pred.to(dtype), target.to(dtype)], dim=0) / data_range
        grey = _luminance(both)
        grey = _pad(grey, (0, w % 2, 0, h % 2), padding)
        grey = F.avg_pool2d(grey, kernel_size=2, stride=2)

        prewitt = torch.tensor([[1.0, 0.0, -1.0]] * 3, dtype=dtype, device=pred.device) / 3.0
        kernels = torch.stack([prewitt, prewitt.t()]).unsqueeze(1)  # (2, 1, 3, 3): d/dx, d/dy
        grads = F.conv2d(_pad(grey, (1, 1, 1, 1), padding), kernels)
        magnitude = torch.sqrt(grads.square().sum(dim=1) + _SQRT_EPS)
        m_pred, m_target = magnitude.chunk(2, dim=0)

        gms = (2.0 * m_pred * m_target + GMSD_C) / (m_pred * m_pred + m_target * m_target + GMSD_C)
        variance = gms.flatten(1).var(dim=1, correction=1)
        # Shifted sqrt: exactly 0 for identical images and a finite gradient there.
        return torch.sqrt(variance + _SQRT_EPS) - math.sqrt(_SQRT_EPS)


def gmsd_loss(
    pred: Tensor,
    target: Tensor,
    data_range: float = 2.0,
    *,
    padding: Literal["replicate", "zeros"] = "replicate",
) -> Tensor:
    """:func:`gmsd` averaged over the batch (scalar)."""
    return gmsd(pred, target, data_range=data_range, padding=padding).mean()


# ---------------------------------------------------------------------------------- total variation


def total_variation(x: Tensor) -> Tensor:
    """Anisotropic total variation per image, in the input's own units (divide by data_range to compare).

    Normalisation: the mean of ``|x[i+1, j] - x[i, j]|`` over all vertical neighbour pairs and
    channels, the same for horizontal pairs, and the average of those two means. So a constant image
    gives 0 and a one-pixel checkerboard of values a and b gives ``|a - b|`` whatever its size. A
    direction with no pairs (height or width 1) is left out.
    """
    _check_images(x)
    h, w = x.shape[-2:]
    if h < 2 and w < 2:
        raise ValueError(f"total variation needs at least two pixels, got {h}x{w}")
    dtype = _compute_dtype(x)
    with _float32_region(x.device):
        x = x.to(dtype)
        means = []
        if h > 1:
            means.append((x[:, :, 1:, :] - x[:, :, :-1, :]).abs().flatten(1).mean(dim=1))
        if w > 1:
            means.append((x[:, :, :, 1:] - x[:, :, :, :-1]).abs().flatten(1).mean(dim=1))
        return torch.stack(means).mean(dim=0)


def tv_loss(x: Tensor) -> Tensor:
    """:func:`total_variation` averaged over the batch (scalar)."""
    return total_variation(x).mean()
