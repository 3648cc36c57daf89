"""Batch augmentation for paired training: the pix2pix "random jitter", on the batch's own device.

Working on a whole batch (rather than per sample in the data loader) keeps it fast on a GPU, and drawing the
random numbers from one ``torch.Generator`` makes a run exactly reproducible.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

# pix2pix resizes 256 px images to 286 px before cropping 256 px back out.
JITTER_RATIO = 286 / 256


def jitter_load_size(size: int) -> int:
    """The size to resize to before cropping ``size`` out: round(size * 286 / 256)."""
    return round(size * JITTER_RATIO)


def _resize(x: torch.Tensor, load_size: int) -> torch.Tensor:
    height, width = x.shape[-2:]
    if (height, width) == (load_size, load_size):
        return x
    shrinking = load_size < min(height, width)
    return F.interpolate(x, size=(load_size, load_size), mode="bilinear", align_corners=False, antialias=shrinking)


def _check(name: str, x: torch.Tensor) -> None:
    if x.ndim != 4:
        raise ValueError(f"random_jitter needs {name} shaped (N, C, H, W), got shape {tuple(x.shape)}")
    if not x.is_floating_point():
        raise ValueError(f"random_jitter needs a floating-point {name}, got {x.dtype}")


def random_jitter(
    input: torch.Tensor,
    target: torch.Tensor,
    size: int,
    load_size: int | None = None,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Resize ``input`` and ``target`` (N, C, H, W) to ``load_size`` square (bilinear), cut the same random
    ``size`` x ``size`` window out of both and mirror both left-right with probability 1/2, per sample.

    ``load_size`` defaults to :func:`jitter_load_size` (286 for 256). The random numbers (row offsets, column
    offsets, then mirror draws, N of each) come from ``generator`` on its own device and are then moved to
    the batch's device, so a given generator state gives the same result on any device; without one, from the
    default generator of the batch's own device, so that a GPU batch waits on no copy from the host. The
    result keeps the input's memory format (channels_last stays channels_last). Input and target may have
    different channel counts but must share N, H and W.
    """
    _check("input", input)
    _check("target", target)
    if input.shape[0] != target.shape[0] or input.shape[-2:] != target.shape[-2:]:
        raise ValueError(
            "random_jitter needs input and target with the same N, H, W, got "
            f"{tuple(input.shape)} and {tuple(target.shape)}"
        )
    if input.device != target.device:
        raise ValueError(f"input is on {input.device} but target is on {target.device}")
    load_size = jitter_load_size(size) if load_size is None else load_size
    if size < 1 or load_size < size:
        raise ValueError(f"need 1 <= size <= load_size, got size={size}, load_size={load_size}")

    n, device = input.shape[0], input.device
    draw_device = generator.device if generator is not None else device
    span = load_size - size + 1
    top = torch.randint(0, span, (n,), generator=generator, device=draw_device).to(device)
    left = torch.randint(0, span, (n,), generator=generator, device=draw_device).to(device)
    mirror = (torch.rand(n, generator=generator, device=draw_device) < 0.5).to(device)

    # One gather does crop and mirror: row r of sample i is top[i] + r; column c is left[i] + c, or
    # left[i] + size - 1 - c when mirrored.
    steps = torch.arange(size, device=device)
    rows = top[:, None] + steps  # (N, size)
    cols = left[:, None] + torch.where(mirror[:, None], size - 1 - steps, steps)  # (N, size)
    batch = torch.arange(n, device=device)[:, None, None]

    def crop(x: torch.Tensor) -> torch.Tensor:
        channels_last = x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous()
        x = _resize(x, load_size)
        # Index (N, H, W, C) so the three index tensors are adjacent: result (N, size, size, C).
        out = x.permute(0, 2, 3, 1)[batch, rows[:, :, None], cols[:, None, :]]
        out = out.permute(0, 3, 1, 2)  # channels_last strides already
        return out if channels_last else out.contiguous()

    return crop(input), crop(target)
