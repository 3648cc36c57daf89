"""The device a name asks for (auto, cpu, cuda, cuda:N), for training and for inference alike, and
whether this CPU computes in bfloat16 natively."""

from __future__ import annotations

from pathlib import Path

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


# The CPU flags (Linux's /proc/cpuinfo) of native bfloat16 arithmetic, best first, as the log names them.
CPU_BF16_FLAGS = {"amx_bf16": "AMX-BF16", "avx512_bf16": "AVX512-BF16"}


def _cpu_flags(cpuinfo: Path) -> set[str] | None:
    try:
        text = cpuinfo.read_text()
    except OSError:
        return None
    return {flag for line in text.splitlines() if line.startswith("flags") for flag in line.split(":", 1)[1].split()}


def cpu_bfloat16(cpuinfo: Path = Path("/proc/cpuinfo")) -> str | None:
    """The CPU's native bfloat16 instructions ("AMX-BF16" or "AVX512-BF16"), or None where it has neither
    (bfloat16 is then emulated, and slower than float32). Read from the kernel's CPU flags; where there are
    none (not Linux), from PyTorch's own probe of the CPU (torch.cpu)."""
    flags = _cpu_flags(cpuinfo)
    if flags is not None:
        return next((name for flag, name in CPU_BF16_FLAGS.items() if flag in flags), None)
    for probe, name in (("_is_amx_tile_supported", "AMX-BF16"), ("_is_avx512_bf16_supported", "AVX512-BF16")):
        if getattr(torch.cpu, probe, lambda: False)():
            return name
    return None
