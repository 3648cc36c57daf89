"""The device a name asks for (auto, cpu, cuda, cuda:N), for training and for inference alike."""

from __future__ import annotations

import torch

from .errors import UserError


def resolve_device(name: str, local_rank: int | None = None) -> torch.device:
    """The device `name` asks for; with several processes (a `local_rank`) on CUDA, each takes
    cuda:LOCAL_RANK."""
    if name in ("auto", "cuda") and torch.cuda.is_available() and local_rank is not None:
        return torch.device("cuda", local_rank)
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"device {name!r} asked for, but CUDA is not available here; use --device cpu or auto")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise UserError(f"unknown device {name!r}; use auto, cpu, cuda or cuda:N") from None
    if device.type not in ("cpu", "cuda"):
        raise UserError(f"device {name!r} is not one ganforge trains on; use auto, cpu, cuda or cuda:N")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise UserError(f"device {name!r}: this machine has {torch.cuda.device_count()} CUDA devices; use cuda:0")
    return device
