"""Several processes, one run: PyTorch's own torch.distributed and DistributedDataParallel, started by
`torchrun` (which sets RANK, WORLD_SIZE and LOCAL_RANK for each process).

The runtime (runtime.py) is the only user of this module: it joins the process group, wraps the networks,
and averages the metrics. `train.batch_size` stays the global batch: each process takes an equal share, so a
run trains alike on one process or several (tests/train/test_distributed.py shows it).

`SyncBatchNorm2d` normalises over the global batch, like `nn.SyncBatchNorm`, but also on the CPU (gloo), and
keeps the Keras-style layers' settings (epsilon, momentum). At pix2pix's 1x1 bottleneck with batch 1, N
processes give N values per channel, which it normalises as Keras would a batch of N.
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from ..errors import UserError


@dataclass(frozen=True)
class World:
    """This process's place among the run's processes."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def world_from_env() -> World:
    """The process's place as torchrun gives it, or a single process."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size <= 1:
        return World()
    return World(int(os.environ["RANK"]), size, int(os.environ.get("LOCAL_RANK", "0")))


def join(world: World, device_type: str, backend: str, timeout: float = 600.0) -> None:
    """Join the process group (once): nccl for CUDA, gloo for the CPU, unless `backend` names one. A
    collective that waits more than `timeout` seconds for a process fails the run (instead of NCCL's 10 or
    gloo's 30 minutes)."""
    if world.size <= 1 or dist.is_initialized():
        return
    backend = backend if backend != "auto" else ("nccl" if device_type == "cuda" else "gloo")
    if backend == "nccl" and device_type != "cuda":
        raise UserError("train.dist_backend=nccl needs CUDA devices; use gloo on the CPU")
    dist.init_process_group(backend, timeout=datetime.timedelta(seconds=timeout))


def leave() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def mean_across(t: torch.Tensor) -> torch.Tensor:
    """The mean of `t` over the processes (`t` itself with one process)."""
    if not dist.is_initialized() or dist.get_world_size() == 1:
        return t
    t = t.clone()
    dist.all_reduce(t)
    return t / dist.get_world_size()


def gather_objects(obj: Any) -> list[Any]:
    """Every process's `obj`, in rank order, on every process."""
    if not dist.is_initialized():
        return [obj]
    out: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(out, obj)
    return out


def broadcast_object(obj: Any) -> Any:
    """Rank 0's `obj` on every process."""
    if not dist.is_initialized():
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


class SyncBatchNorm2d(nn.BatchNorm2d):
    """BatchNorm2d whose training statistics are those of the global batch: per-channel sums and sums of
    squares are all-reduced (with their gradients, through torch.distributed.nn), so that N processes with
    batch B normalise as one process with batch N x B. Running statistics as PyTorch's (unbiased variance)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and dist.is_initialized() and dist.get_world_size() > 1):
            return super().forward(x)
        from torch.distributed.nn.functional import all_reduce

        xf, c = x.float(), x.shape[1]
        count = x.numel() // c * dist.get_world_size()  # every process has the same batch
        total = all_reduce(torch.cat([xf.sum((0, 2, 3)), (xf * xf).sum((0, 2, 3))]))
        mean, mean_sq = total[:c] / count, total[c:] / count
        var = (mean_sq - mean * mean).clamp_min(0)
        if self.track_running_stats:
            with torch.no_grad():
                self.running_mean.lerp_(mean.detach(), self.momentum)
                self.running_var.lerp_(var.detach() * (count / (count - 1)), self.momentum)
                self.num_batches_tracked.add_(1)
        y = (xf - mean.view(1, -1, 1, 1)) * torch.rsqrt(var.view(1, -1, 1, 1) + self.eps)
        if self.affine:
            y = y * self.weight.view(1, -1, 1, 1) + self.bias.view(1, -1, 1, 1)
        return y.to(x.dtype)


def convert_sync_batchnorm(module: nn.Module) -> nn.Module:
    """`module` with each BatchNorm2d (the Keras-style ones too) replaced by a SyncBatchNorm2d holding
    its weights and statistics."""
    if isinstance(module, nn.BatchNorm2d) and not isinstance(module, SyncBatchNorm2d):
        m = module
        sync = SyncBatchNorm2d(m.num_features, m.eps, m.momentum, m.affine, m.track_running_stats)
        sync.load_state_dict(m.state_dict())
        return sync.to(m.running_mean.device if m.running_mean is not None else m.weight.device)
    for name, child in module.named_children():
        setattr(module, name, convert_sync_batchnorm(child))
    return module
