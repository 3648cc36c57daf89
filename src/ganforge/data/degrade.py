"""On-the-fly image degradations for training a restoration GAN: clean batch in, degraded batch out.

A degradation list comes from a spec such as ``"noise=0.1,blur=1.5"`` (the repeatable CLI flag ``--degrade``)
and is applied in the order given, to a whole batch (N, C, H, W) in [-1, 1] on the batch's own device:

- ``noise=S``: additive Gaussian noise with standard deviation S in units of the [0, 1] range (2*S in
  [-1, 1] units), clamped to [-1, 1]. S in (0, 1].
- ``blur=S``: Gaussian blur with sigma S pixels; kernel size 2*ceil(3S)+1, reflect padding. S in (0, 20].
  The kernel is the Gaussian sampled at whole pixels, so below S = 1 its spread is a little under S.
- ``jpeg=Q``: JPEG compression at quality Q (integer 1..95), simulated on the batch's device (data/jpeg.py:
  libjpeg's tables, 4:2:0 chroma; within about 45 dB PSNR of Pillow's encode and decode).
- ``downscale=F``: shrink by F with antialiased bilinear (area-like), then enlarge back to the original size
  with bicubic, clamped to [-1, 1]. F in (1, 16].

Only the noise is random. Its numbers come from a ``torch.Generator`` on the generator's own device and are
then moved to the batch's device, so a CPU generator in a given state gives the same result whether the batch
is on the CPU or a GPU; without one, from the default generator of the batch's device (no copy from the host).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from ganforge.errors import UserError
from ganforge.filters import gaussian_blur
from ganforge.registry import TEXT_PARSERS

from .jpeg import jpeg

OPTION = "--degrade"

# kind -> (lowest, highest, lowest is allowed, must be an integer, what the strength means)
_KINDS: dict[str, tuple[float, float, bool, bool, str]] = {
    "noise": (0.0, 1.0, False, False, "noise std in [0, 1] units"),
    "blur": (0.0, 20.0, False, False, "blur sigma in pixels"),
    "jpeg": (1.0, 95.0, True, True, "JPEG quality"),
    "downscale": (1.0, 16.0, False, False, "downscale factor"),
}
KINDS: tuple[str, ...] = tuple(_KINDS)

_EXAMPLE = "noise=0.1,blur=1.5"


def _range_text(kind: str) -> str:
    low, high, low_ok, integer, what = _KINDS[kind]
    if integer:
        return f"an integer {_format(low)}..{_format(high)} ({what})"
    return f"a number in {'[' if low_ok else '('}{_format(low)}, {_format(high)}] ({what})"


def _check(kind: str, value: float) -> tuple[str, float]:
    """The (kind, strength) pair, validated; UserError naming the option otherwise."""
    if kind not in _KINDS:
        raise UserError(f"{OPTION}: unknown degradation {kind!r}; use one of {', '.join(KINDS)}")
    low, high, low_ok, integer, _ = _KINDS[kind]
    value = float(value)
    above_low = value >= low if low_ok else value > low
    # The comparisons are False for NaN, so NaN lands here too.
    problem = "is out of range" if not (above_low and value <= high) else None
    if problem is None and integer and not value.is_integer():
        problem = "is not a whole number"
    if problem is not None:
        raise UserError(f"{OPTION}: {kind}={_format(value)} {problem}; {kind} takes {_range_text(kind)}")
    return kind, value


def _parse_one(spec: str) -> list[tuple[str, float]]:
    if not spec.strip():
        raise UserError(f"{OPTION}: empty degradation spec; give kind=strength entries such as {_EXAMPLE}")
    parsed = []
    for entry in spec.split(","):
        entry = entry.strip()
        if not entry:
            raise UserError(f"{OPTION}: empty entry in {spec!r}; separate kind=strength entries by single commas")
        if "=" not in entry:
            raise UserError(f"{OPTION}: {entry!r} has no '='; write kind=strength, such as {_EXAMPLE}")
        kind, _, text = entry.partition("=")
        kind, text = kind.strip().lower(), text.strip()
        if kind not in _KINDS:
            raise UserError(f"{OPTION}: unknown degradation {kind!r} in {entry!r}; use one of {', '.join(KINDS)}")
        try:
            value = float(text)
        except ValueError:
            raise UserError(
                f"{OPTION}: {kind} strength {text!r} is not a number; {kind} takes {_range_text(kind)}"
            ) from None
        parsed.append(_check(kind, value))
    return parsed


def parse_degradations(spec: str | Sequence[str]) -> list[tuple[str, float]]:
    """Parse ``"noise=0.1,blur=1.5"`` (or a list of such strings, one per ``--degrade`` flag) into
    ``[("noise", 0.1), ("blur", 1.5)]``, in the order given. Bad input raises a one-line UserError."""
    specs = [spec] if isinstance(spec, str) else list(spec)
    if not specs:
        raise UserError(f"{OPTION}: no degradations given; give kind=strength entries such as {_EXAMPLE}")
    parsed = []
    for one in specs:
        if not isinstance(one, str):
            raise UserError(f"{OPTION}: expected text such as {_EXAMPLE!r}, got {one!r}")
        parsed.extend(_parse_one(one))
    return parsed


TEXT_PARSERS.register("data.degrade", parse_degradations)  # the check of the config key


def _format(value: float) -> str:
    """Shortest text that parses back to the same float; integral values without ".0"."""
    value = float(value)
    return str(int(value)) if value.is_integer() else repr(value)


def describe(degradations: Sequence[tuple[str, float]]) -> str:
    """The canonical spec, ``"noise=0.1,blur=1.5"``; :func:`parse_degradations` reads it back unchanged."""
    return ",".join(f"{kind}={_format(value)}" for kind, value in degradations)


def _noise(x: torch.Tensor, std: float, generator: torch.Generator | None) -> torch.Tensor:
    device = generator.device if generator is not None else x.device
    noise = torch.randn(x.shape, generator=generator, device=device, dtype=torch.float32)
    noise = noise.to(device=x.device, dtype=x.dtype)
    return (x + noise * (2.0 * std)).clamp_(-1.0, 1.0)


def _downscale(x: torch.Tensor, factor: float) -> torch.Tensor:
    height, width = x.shape[-2:]
    small = (max(1, round(height / factor)), max(1, round(width / factor)))
    if small == (height, width):
        return x
    x = F.interpolate(x, size=small, mode="bilinear", align_corners=False, antialias=True)
    x = F.interpolate(x, size=(height, width), mode="bicubic", align_corners=False)
    return x.clamp_(-1.0, 1.0)


def degrade(
    images: torch.Tensor,
    degradations: Sequence[tuple[str, float]],
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Apply ``degradations`` (from :func:`parse_degradations`) in order to ``images`` (N, C, H, W) in [-1, 1].

    Returns a new tensor of the same shape, dtype and device, without gradient history (this is data
    preparation). Only noise is random; see the module docstring for how ``generator`` is used.
    """
    if images.ndim != 4:
        raise ValueError(f"degrade needs images shaped (N, C, H, W), got shape {tuple(images.shape)}")
    if not images.is_floating_point():
        raise ValueError(f"degrade needs floating-point images, got {images.dtype}")
    checked = [_check(str(kind), value) for kind, value in degradations]
    # Half-precision convolution and interpolation are not available everywhere: work in float32.
    x = images.detach()
    x = x if x.dtype in (torch.float32, torch.float64) else x.float()
    x = x.clone()
    with torch.no_grad():
        for kind, value in checked:
            if kind == "noise":
                x = _noise(x, value, generator)
            elif kind == "blur":
                x = gaussian_blur(x, value, "reflect")
            elif kind == "jpeg":
                x = jpeg(x, int(value))
            else:
                x = _downscale(x, value)
    return x.to(images.dtype)
