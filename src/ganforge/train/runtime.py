"""Where and how a run executes, decided in one place: the device, the numeric precision (autocast, and
a gradient scaler for fp16), the memory format of convolutional networks, and torch.compile. The
objective, the tasks and the families do not know which of these are on.

- `train.precision`: auto (bfloat16 autocast on a CUDA device that supports it, else float32), fp32,
  bf16 (also on the CPU), fp16 (CUDA, with a gradient scaler per network).
- `train.channels_last`: auto (on CUDA), on, off: networks and image batches in NHWC, which the tensor
  cores of recent GPUs run fastest.
- `train.compile`: `torch.compile` each network in place (`nn.Module.compile`), so that its weights and
  checkpoint keys stay as they are.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch
from torch import nn

from ..errors import UserError

PRECISIONS = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"device {name!r} asked for, but CUDA is not available here; use --device cpu or auto")
    try:
        return torch.device(name)
    except RuntimeError:
        raise UserError(f"unknown device {name!r}; use auto, cpu, cuda or cuda:N") from None


def seed_everything(seed: int, device: torch.device) -> None:
    torch.manual_seed(seed)
    if device.type == "cuda":
        torch.cuda.manual_seed_all(seed)


@dataclass(frozen=True)
class Runtime:
    device: torch.device
    precision: str = "fp32"
    channels_last: bool = False
    compile: bool = False

    @classmethod
    def from_config(cls, train) -> Runtime:
        """From the `train` section: its device, precision, channels_last and compile keys."""
        device = resolve_device(train.device)
        cuda = device.type == "cuda"
        precision = train.precision
        if precision == "auto":
            precision = "bf16" if cuda and torch.cuda.is_bf16_supported() else "fp32"
        if precision == "fp16" and not cuda:
            raise UserError("train.precision=fp16 needs a CUDA device; use bf16 or fp32 on the CPU")
        channels_last = train.channels_last == "on" or (train.channels_last == "auto" and cuda)
        return cls(device, precision, channels_last, bool(train.compile))

    def autocast(self) -> contextlib.AbstractContextManager:
        """The forward passes' precision; backward runs outside it, as autocast asks."""
        if self.precision == "fp32":
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=PRECISIONS[self.precision])

    def grad_scaler(self) -> torch.amp.GradScaler:
        """A loss scaler for fp16 (a no-op otherwise): fp16 gradients underflow without one."""
        return torch.amp.GradScaler(self.device.type, enabled=self.precision == "fp16")

    def prepare(self, net: nn.Module) -> nn.Module:
        """`net` on the device, in the memory format, compiled in place (the same module is returned)."""
        net = net.to(self.device)
        if self.channels_last and any(isinstance(m, nn.Conv2d | nn.ConvTranspose2d) for m in net.modules()):
            net = net.to(memory_format=torch.channels_last)
        if self.compile:
            net.compile()
        return net

    def images(self, x: torch.Tensor) -> torch.Tensor:
        """A batch of images on the device, in the memory format."""
        x = x.to(self.device, non_blocking=True)
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last and x.dim() == 4 else x

    def describe(self) -> str:
        parts = [str(self.device), self.precision]
        parts += ["channels_last"] * self.channels_last + ["compiled"] * self.compile
        return ", ".join(parts)
