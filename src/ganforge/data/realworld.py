"""The "high-order" degradation of Real-ESRGAN (Wang et al. 2021): an HR batch in, a realistic LR batch out.

A model trained on bicubic downscaling (data/lowres.py) learns to undo exactly that, and fails on real
photographs, whose small versions were blurred by a lens, resized by a camera or a website, made noisy by
a sensor and JPEG-compressed, often more than once (taken, shrunk and posted, downloaded, shared again).
So each HR image goes through two random stages of blur -> resize -> noise -> JPEG, then is resized to
H/scale x W/scale and compressed once more. Each image of a batch draws its own kernel, noise and JPEG
quality; a stage's resize (factor and mode) is drawn once for the batch, which keeps one size. (Real-ESRGAN
also draws generalised-Gaussian, plateau and sinc kernels; here the kernels are Gaussian only.)

It runs on the batch's own device. Every number comes from the global torch RNG, so that the RNG state a
checkpoint keeps makes a resumed run exact: the choices the host needs (sizes, modes, JPEG qualities,
Gaussian or Poisson noise, whether the second stage runs) from the CPU generator, which needs no
synchronisation with a GPU, and the per-pixel and per-image numbers from the default generator of the
batch's device. With a CPU batch, both are the one CPU generator.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial

import torch
import torch.nn.functional as F

from ..config import Config
from ..filters import edge_index
from .jpeg import jpeg as jpeg_at
from .lowres import bicubic_down

MODES = ("area", "bilinear", "bicubic")
KERNEL_SIZES = tuple(range(7, 22, 2))  # odd sizes 7..21; each kernel is zero outside its own size
LUMA = (0.299, 0.587, 0.114)


@dataclass(frozen=True)
class RealWorldSettings:
    """How strong the degradation is; the defaults are Real-ESRGAN's. Each off value skips its step."""

    blur: float = 3.0  # largest sigma of the first stage's random blur kernels (second stage: half); 0 = no blur
    resize: bool = True  # random up/down resize with a random mode (area, bilinear, bicubic) in each stage
    noise: float = 30.0  # largest Gaussian noise std in 8-bit levels (first stage; second: 25/30 of it); 0 = none
    poisson: float = 0.4  # the chance that a stage's noise is Poisson (scaled) rather than Gaussian
    jpeg: int = 30  # lowest JPEG quality (qualities drawn in [jpeg, 95]); 100 = no JPEG
    second: float = 1.0  # the chance that the second stage runs

    def __post_init__(self) -> None:
        if not (self.blur >= 0 and self.noise >= 0):  # also False for NaN
            raise ValueError(f"blur and noise must be >= 0, got blur={self.blur}, noise={self.noise}")
        if not (0 <= self.poisson <= 1 and 0 <= self.second <= 1):
            raise ValueError(f"poisson and second are chances in [0, 1], got {self.poisson}, {self.second}")
        if int(self.jpeg) != self.jpeg or not 1 <= self.jpeg <= 100:
            raise ValueError(f"jpeg must be a whole quality 1..100 (100: no JPEG), got {self.jpeg}")


def _uniform(n: int, low: float, high: float, device: torch.device) -> torch.Tensor:
    return low + (high - low) * torch.rand(n, device=device)


def random_kernels(n: int, max_sigma: float, device: torch.device | str | None = None) -> torch.Tensor:
    """`n` random Gaussian blur kernels, (n, 21, 21), each summing to 1: half isotropic, half anisotropic
    (sigmas in [0.2, max_sigma] along a random angle), each zero outside its own odd size in 7..21."""
    device = torch.device("cpu") if device is None else torch.device(device)
    low = min(0.2, max_sigma)
    sigma_x, sigma_y = _uniform(n, low, max_sigma, device), _uniform(n, low, max_sigma, device)
    isotropic = torch.rand(n, device=device) < 0.5
    sigma_y = torch.where(isotropic, sigma_x, sigma_y)
    angle = _uniform(n, -math.pi, math.pi, device)
    radius = torch.randint(len(KERNEL_SIZES), (n,), device=device) + KERNEL_SIZES[0] // 2
    # the inverse covariance R diag(1/sx^2, 1/sy^2) R^T as the quadratic form a x^2 + 2 b x y + d y^2
    cos, sin, inv_x, inv_y = angle.cos(), angle.sin(), sigma_x**-2, sigma_y**-2
    a = (cos**2 * inv_x + sin**2 * inv_y).view(n, 1, 1)
    b = (cos * sin * (inv_x - inv_y)).view(n, 1, 1)
    d = (sin**2 * inv_x + cos**2 * inv_y).view(n, 1, 1)
    offsets = torch.arange(-(KERNEL_SIZES[-1] // 2), KERNEL_SIZES[-1] // 2 + 1, device=device, dtype=torch.float32)
    y, x = offsets.view(1, -1, 1), offsets.view(1, 1, -1)
    kernels = torch.exp(-0.5 * (a * x**2 + 2 * b * x * y + d * y**2))
    inside = torch.maximum(x.abs(), y.abs()) <= radius.view(n, 1, 1)
    kernels = kernels * inside
    return kernels / kernels.sum(dim=(1, 2), keepdim=True)


def blur(x: torch.Tensor, kernels: torch.Tensor) -> torch.Tensor:
    """Convolve each image of `x` (N, C, H, W) with its own kernel of `kernels` (N, K, K), K odd, on all its
    channels, with reflected edges (any size of image)."""
    n, channels, height, width = x.shape
    radius = kernels.shape[-1] // 2
    x = x.index_select(2, edge_index(height, radius, "reflect", x.device))
    x = x.index_select(3, edge_index(width, radius, "reflect", x.device))
    weight = kernels.to(x.device, x.dtype).repeat_interleave(channels, dim=0)[:, None]  # (N * C, 1, K, K)
    out = F.conv2d(x.reshape(1, n * channels, *x.shape[-2:]), weight, groups=n * channels)
    return out.view(n, channels, height, width).clamp(-1.0, 1.0)


def resize(x: torch.Tensor, size: tuple[int, int], mode: str) -> torch.Tensor:
    """`x` interpolated to `size` with `mode` (one of MODES, not antialiased, as in Real-ESRGAN), clamped."""
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    align = None if mode == "area" else False
    return F.interpolate(x, size=size, mode=mode, align_corners=align).clamp(-1.0, 1.0)


def _pick(choices: Sequence[str]) -> str:
    return choices[int(torch.randint(len(choices), ()))]


def random_resize(
    x: torch.Tensor, low: float, high: float, chances: tuple[float, float, float] = (0.2, 0.7, 0.1)
) -> torch.Tensor:
    """Resize the batch by one random factor: up (in [1, high]), down (in [low, 1]) or not at all, with the
    `chances` of each, in a random mode."""
    way = int(torch.multinomial(torch.tensor(chances, dtype=torch.float), 1))
    u, mode = float(torch.rand(())), _pick(MODES)
    factor = (1 + (high - 1) * u, low + (1 - low) * u, 1.0)[way]
    height, width = x.shape[-2:]
    return resize(x, (max(1, round(height * factor)), max(1, round(width * factor))), mode)


def gaussian_noise(x: torch.Tensor, sigma_levels: torch.Tensor | float, gray_prob: float = 0.0) -> torch.Tensor:
    """`x` plus Gaussian noise of std `sigma_levels` 8-bit levels (a number, or one per image), the same in
    every channel (grey noise) for each image with chance `gray_prob`; clamped."""
    sigma = torch.as_tensor(sigma_levels, dtype=x.dtype, device=x.device).reshape(-1, 1, 1, 1) / 127.5
    noise = torch.randn_like(x)
    if gray_prob > 0 and x.shape[1] > 1:
        gray = torch.rand(x.shape[0], device=x.device) < gray_prob
        noise = torch.where(gray.view(-1, 1, 1, 1), torch.randn_like(x[:, :1]).expand_as(x), noise)
    return (x + sigma * noise).clamp(-1.0, 1.0)


def poisson_noise(x: torch.Tensor, scale: torch.Tensor | float, gray_prob: float = 0.0) -> torch.Tensor:
    """`x` plus Poisson (shot) noise: 8-bit values as photon counts, the difference scaled by `scale` (a
    number, or one per image), so its variance grows with intensity; grey (from the luma) with chance
    `gray_prob`; clamped."""
    scale = torch.as_tensor(scale, dtype=x.dtype, device=x.device).reshape(-1, 1, 1, 1)
    level = (x + 1) * 127.5

    def shot(values: torch.Tensor) -> torch.Tensor:
        values = values.clamp(0, 255)
        return torch.poisson(values) - values

    noise = shot(level)
    if gray_prob > 0 and x.shape[1] == 3:
        gray = torch.rand(x.shape[0], device=x.device) < gray_prob
        luma = torch.einsum("c,nchw->nhw", torch.tensor(LUMA, dtype=x.dtype, device=x.device), level)[:, None]
        noise = torch.where(gray.view(-1, 1, 1, 1), shot(luma).expand_as(x), noise)
    return (x + scale * noise / 127.5).clamp(-1.0, 1.0)


def random_qualities(n: int, lowest: int) -> list[int]:
    """`n` JPEG qualities drawn uniformly from [lowest, 95] (from [lowest, lowest] above 95), on the host."""
    return (torch.randint(lowest, max(lowest, 95) + 1, (n,))).tolist()


def jpeg(x: torch.Tensor, qualities: Sequence[int]) -> torch.Tensor:
    """Each image of `x` through JPEG at its own quality (data/jpeg.py), one call per distinct quality."""
    if len(qualities) != x.shape[0]:
        raise ValueError(f"{len(qualities)} JPEG qualities for {x.shape[0]} images")
    out = torch.empty_like(x)
    for quality in sorted(set(qualities)):
        index = torch.tensor([i for i, q in enumerate(qualities) if q == quality], device=x.device)
        out[index] = jpeg_at(x[index], int(quality))
    return out


def _stage(x: torch.Tensor, s: RealWorldSettings, first: bool) -> torch.Tensor:
    n = x.shape[0]
    max_sigma = s.blur if first else s.blur / 2
    if max_sigma > 0:
        x = blur(x, random_kernels(n, max_sigma, x.device))
    if s.resize:
        x = random_resize(x, 0.15, 1.5, (0.2, 0.7, 0.1)) if first else random_resize(x, 0.3, 1.2, (0.3, 0.4, 0.3))
    max_noise = s.noise if first else s.noise * 25 / 30
    if max_noise > 0:
        poisson = (torch.rand(n) < s.poisson).tolist()  # which images get Poisson rather than Gaussian noise
        noisy = x
        if not all(poisson):
            noisy = gaussian_noise(x, _uniform(n, min(1.0, max_noise), max_noise, x.device), gray_prob=0.4)
        if any(poisson):
            shot = poisson_noise(x, _uniform(n, 0.05, 3.0 if first else 2.5, x.device), gray_prob=0.4)
            noisy = torch.where(torch.tensor(poisson, device=x.device).view(-1, 1, 1, 1), shot, noisy)
        x = noisy
    if s.jpeg < 100:
        x = jpeg(x, random_qualities(n, s.jpeg))
    return x


def degrade_realworld(hr: torch.Tensor, scale: int, settings: RealWorldSettings = RealWorldSettings()) -> torch.Tensor:
    """HR batch in [-1,1] -> LR batch of size (H//scale, W//scale) in [-1,1], quantised to 8-bit levels.

    `hr` is (N, C, H, W), C 1 or 3, H and W multiples of `scale`. With ``resize=False`` nothing is resized
    at random and the last resize is :func:`~ganforge.data.lowres.bicubic_down`; with every step off, the
    result is that alone (on the 8-bit grid). Returns a new tensor in `hr`'s dtype, without gradient history.
    """
    if hr.ndim != 4 or hr.shape[1] not in (1, 3):
        raise ValueError(f"degrade_realworld needs images shaped (N, 1 or 3, H, W), got {tuple(hr.shape)}")
    if isinstance(scale, bool) or int(scale) != scale or scale < 1:
        raise ValueError(f"scale must be a whole number >= 1, got {scale!r}")
    height, width = hr.shape[-2:]
    if height % scale or width % scale:
        raise ValueError(f"image size {height} x {width} is not a multiple of the scale {scale}")
    s, target = settings, (height // int(scale), width // int(scale))
    with torch.no_grad():
        x = hr.detach()
        x = (x if x.dtype in (torch.float32, torch.float64) else x.float()).clamp(-1.0, 1.0)
        x = _stage(x, s, first=True)
        if s.second > 0 and float(torch.rand(())) < s.second:
            x = _stage(x, s, first=False)
        x = resize(x, target, _pick(MODES)) if s.resize else bicubic_down(x, int(scale))
        if s.jpeg < 100:
            x = jpeg(x, random_qualities(x.shape[0], s.jpeg))
        x = torch.round((x + 1) * 127.5).clamp(0, 255) / 127.5 - 1
    return x.to(hr.dtype)


def low_resolution_inputs(cfg: Config) -> Callable[[torch.Tensor], torch.Tensor]:
    """How an upscaler's run makes its inputs from HR images: antialiased bicubic downscaling by
    `model.scale` (`model.inputs=bicubic`), or this module's degradation with the `model.degrade_*` keys."""
    m = cfg.model
    if m.inputs != "realworld":
        return partial(bicubic_down, scale=m.scale)
    settings = RealWorldSettings(
        blur=m.degrade_blur, resize=m.degrade_resize, noise=m.degrade_noise, poisson=m.degrade_poisson,
        jpeg=m.degrade_jpeg, second=m.degrade_second,
    )  # fmt: skip
    return partial(degrade_realworld, scale=m.scale, settings=settings)
