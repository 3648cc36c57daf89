"""Where and how a run executes, decided in one place: the device, the numeric precision (autocast, and
a gradient scaler for fp16), the memory format of convolutional networks, and torch.compile. The
objective, the tasks and the families do not know which of these are on.

- `train.precision`: auto, fp32, bf16 (also on the CPU), fp16 (CUDA, with a gradient scaler per network).
  On CUDA, auto is bfloat16 autocast for a step replayed as a CUDA graph and float32 (TF32) otherwise
  (also where `train.cuda_graphs` is asked for but the run cannot be one graph, `eager`): on an H200 the
  presets' eager steps are launch-bound, and autocast's cast kernels made them 1.2-1.5x slower than TF32,
  while inside a graph bfloat16 was the fastest path measured. On a CPU, auto is bfloat16 autocast where
  the CPU has native bfloat16 (AMX-BF16 or AVX512-BF16, devices.cpu_bfloat16) and the family gains from
  it (`Family.cpu_bf16`), float32 elsewhere; the log's runtime line says which and why.
- `train.channels_last`: auto (on CUDA in bf16 or fp16; on a CPU in bf16), on, off: networks and image
  batches in NHWC, which the tensor cores of recent GPUs and oneDNN's bfloat16 kernels run fastest; the
  float32 eager step on CUDA measured fastest in NCHW.
- `train.compile`: `torch.compile` each network in place (`nn.Module.compile`), so that its weights and
  checkpoint keys stay as they are.
- Several processes (started by torchrun; distributed.py): each process takes its own device
  (cuda:LOCAL_RANK), its share of the global batch, and the trained networks are wrapped in
  DistributedDataParallel (`parallel`); `train.sync_batchnorm` normalises over the global batch.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, replace

import torch
from torch import nn

from ..config import Config
from ..devices import cpu_bfloat16, resolve_device
from ..errors import UserError
from ..models import family_of
from . import distributed
from .distributed import World

PRECISIONS = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


@contextlib.contextmanager
def uncompiled(net: nn.Module):
    """`net` (compiled in place by `Runtime.prepare`, or plain) runs its eager forward inside the block:
    torch.compile's autograd cannot differentiate twice, and gradient penalties (R1, R2, WGAN-GP) do.
    A wrapper around `net` (DistributedDataParallel) still calls it, and still synchronises."""
    compiled = getattr(net, "_compiled_call_impl", None)
    net._compiled_call_impl = None
    try:
        yield net
    finally:
        net._compiled_call_impl = compiled


def seed_everything(seed: int, device: torch.device) -> None:
    torch.manual_seed(seed)
    if device.type == "cuda":
        torch.cuda.manual_seed_all(seed)


def cpu_precision(cfg: Config) -> tuple[str, str]:
    """(precision, why) of precision auto on the CPU: bf16 where the CPU has native bfloat16 and the family
    trains faster in it, fp32 elsewhere."""
    native = cpu_bfloat16()
    if native is None:
        return "fp32", "auto: this CPU has no native bfloat16"
    if not family_of(cfg).cpu_bf16:
        return "fp32", f"auto: {cfg.model.family} trains faster in float32 even on this {native} CPU"
    return "bf16", f"auto: this CPU has {native}"


@dataclass(frozen=True)
class Runtime:
    device: torch.device
    precision: str = "fp32"
    channels_last: bool = False
    compile: bool = False
    world: World = World()
    sync_batchnorm: bool = False
    why: str = ""  # why precision auto chose what it chose, for the log

    @classmethod
    def from_config(cls, cfg: Config) -> Runtime:
        """From the `train` section: its device, precision, channels_last, compile and sync_batchnorm keys
        (precision auto on a CPU also asks the model's family); under torchrun, this joins the process group."""
        train = cfg.train
        world = distributed.world_from_env()
        device = resolve_device(train.device, world.local_rank if world.size > 1 else None)
        if device.type == "cuda" and device.index is not None:
            torch.cuda.set_device(device)
        distributed.join(world, device.type, train.dist_backend, train.dist_timeout)
        if train.batch_size % world.size:
            raise UserError(
                f"train.batch_size={train.batch_size} is the global batch and must divide among {world.size} "
                "processes; choose a multiple of the process count"
            )
        cuda = device.type == "cuda"
        precision, why = train.precision, ""
        if precision == "auto" and cuda:
            graphed = train.cuda_graphs and torch.cuda.is_bf16_supported()
            precision = "bf16" if graphed else "fp32"
        elif precision == "auto":
            precision, why = cpu_precision(cfg)
        if precision == "fp16" and not cuda:
            raise UserError("train.precision=fp16 needs a CUDA device; use bf16 or fp32 on the CPU")
        reduced = precision in ("bf16", "fp16")
        channels_last = train.channels_last == "on" or (train.channels_last == "auto" and reduced)
        return cls(device, precision, channels_last, bool(train.compile), world, bool(train.sync_batchnorm), why)

    def eager(self, train) -> Runtime:
        """This runtime for a step that runs eagerly after all (`train.cuda_graphs` asked for, but the run
        cannot be one graph): where precision auto chose bfloat16 for the graph, float32 and NCHW instead."""
        if train.precision != "auto" or self.precision != "bf16" or self.device.type != "cuda":
            return self
        return replace(self, precision="fp32", channels_last=train.channels_last == "on")

    @property
    def is_main(self) -> bool:
        """Whether this process writes the run's files (rank 0, or the only process)."""
        return self.world.is_main

    def share(self, batch_size: int) -> int:
        """This process's share of a global batch."""
        return batch_size // self.world.size

    def configure_backends(self) -> None:
        """On CUDA, let cuDNN pick the fastest convolution algorithm for the run's fixed shapes (the first
        steps try several), and let float32 matrix products use TF32 as cuDNN's convolutions already do."""
        if self.device.type == "cuda":
            torch.backends.cudnn.benchmark = True
            torch.set_float32_matmul_precision("high")

    def autocast(self, cache: bool = True) -> contextlib.AbstractContextManager:
        """The forward passes' precision; backward runs outside it, as autocast asks. `cache=False` for a
        CUDA graph's capture, which must not keep autocast's cast weights."""
        if self.precision == "fp32":
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=PRECISIONS[self.precision], cache_enabled=cache)

    def grad_scaler(self) -> torch.amp.GradScaler:
        """A loss scaler for fp16 (a no-op otherwise): fp16 gradients underflow without one."""
        return torch.amp.GradScaler(self.device.type, enabled=self.precision == "fp16")

    def prepare(self, net: nn.Module) -> nn.Module:
        """`net` on the device, in the memory format, compiled in place (the same module is returned)."""
        net = net.to(self.device)
        if self.channels_last and any(isinstance(m, nn.Conv2d | nn.ConvTranspose2d) for m in net.modules()):
            net = net.to(memory_format=torch.channels_last)
        if self.sync_batchnorm and self.world.size > 1:
            net = distributed.convert_sync_batchnorm(net)
        if self.compile:
            net.compile()
        return net

    def parallel(self, net: nn.Module) -> nn.Module:
        """`net` as the phases that train it call it: in DistributedDataParallel with several processes
        (which averages its gradients over them in backward), else itself. A phase that goes through a
        network without training it calls the plain module, so that no gradients are synchronised."""
        if self.world.size == 1 or not any(p.requires_grad for p in net.parameters()):
            return net
        ids = [self.device.index] if self.device.type == "cuda" else None
        return nn.parallel.DistributedDataParallel(net, device_ids=ids)

    def mean_across(self, t: torch.Tensor) -> torch.Tensor:
        """`t` averaged over the processes (metrics)."""
        return distributed.mean_across(t) if self.world.size > 1 else t

    def images(self, x: torch.Tensor) -> torch.Tensor:
        """A batch of images on the device, in the memory format."""
        x = x.to(self.device, non_blocking=True)
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last and x.dim() == 4 else x

    def describe(self) -> str:
        parts = [str(self.device), f"{self.precision} ({self.why})" if self.why else self.precision]
        parts += ["channels_last"] * self.channels_last + ["compiled"] * self.compile
        if self.world.size > 1:
            parts.append(f"{self.world.size} processes" + (", SyncBatchNorm" if self.sync_batchnorm else ""))
        return ", ".join(parts)
