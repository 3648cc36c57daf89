"""Endless, reproducible batches: the order depends only on (seed, epoch), so a run resumed at step k
sees exactly the batches an uninterrupted run would."""

from __future__ import annotations

import os
from collections.abc import Iterator

import numpy as np
import torch
from torch.utils.data import DataLoader

from ..data.base import ImageDataset
from ..errors import UserError
from .runtime import Runtime


class EpochBatches:
    """Index batches over epochs; epoch e is a permutation drawn from (seed, e), cut into full batches.

    With several processes (rank, world_size) each takes every world_size-th batch of the same order.
    """

    def __init__(self, n: int, batch_size: int, seed: int, start_batch: int = 0, rank: int = 0, world_size: int = 1):
        self.n, self.batch_size, self.seed = n, batch_size, seed
        self.rank, self.world_size = rank, world_size
        self.batches_per_epoch = n // (batch_size * world_size)
        self.start_batch = start_batch

    def __iter__(self) -> Iterator[list[int]]:
        epoch, b = divmod(self.start_batch, self.batches_per_epoch)
        while True:
            order = np.random.default_rng([self.seed, epoch]).permutation(self.n)
            for i in range(b, self.batches_per_epoch):
                first = (i * self.world_size + self.rank) * self.batch_size
                yield order[first : first + self.batch_size].tolist()
            epoch, b = epoch + 1, 0


RESIDENT_BYTES = 2**30  # an in-memory data set up to this size (as float32) is kept whole on the device


class BatchStream:
    """Batches of a data set on the runtime's device (and memory format), forever; `batches_per_epoch`
    tells epochs from steps.

    An in-memory data set that fits in RESIDENT_BYTES is stacked once on the device and each batch is an
    index into it there (as a straightforward loop does), with no loader, no per-sample work on the host and
    no copy of images per step; other data sets come through a DataLoader with workers, pinned memory and
    prefetching. Both give the same batches in the same order.
    """

    def __init__(
        self,
        dataset: ImageDataset,
        batch_size: int,
        seed: int,
        runtime: Runtime,
        start_batch: int = 0,
        num_workers: int = -1,
        rank: int = 0,
        world_size: int = 1,
    ):
        n = len(dataset)  # type: ignore[arg-type]
        if n < batch_size * world_size:
            raise UserError(
                f"the data set has {n} images, fewer than one batch of {batch_size * world_size}; "
                "lower --batch-size or add images"
            )
        self.sampler = EpochBatches(n, batch_size, seed, start_batch, rank, world_size)
        self.batches_per_epoch = self.sampler.batches_per_epoch
        self.runtime = runtime
        self.resident = _resident(dataset, runtime) if dataset.in_memory else None
        if self.resident is not None:
            self._order, self._it = iter(self.sampler), None
            return
        if num_workers < 0:
            num_workers = 0 if dataset.in_memory else min(8, os.cpu_count() or 1)
        self.loader = DataLoader(
            dataset,
            batch_sampler=self.sampler,
            num_workers=num_workers,
            pin_memory=runtime.device.type == "cuda",
            persistent_workers=num_workers > 0,
            prefetch_factor=4 if num_workers > 0 else None,
            generator=torch.Generator().manual_seed(seed),  # workers' seeds must not consume the global RNG
        )
        self._it = iter(self.loader)

    def __iter__(self) -> BatchStream:
        return self

    def close(self) -> None:
        """Stop the loader's worker processes now rather than whenever the stream is collected."""
        it, self._it = self._it, None
        if hasattr(it, "_shutdown_workers"):
            it._shutdown_workers()

    def __next__(self):
        if self.resident is not None:
            index = torch.tensor(next(self._order), dtype=torch.long)
            if self.runtime.device.type == "cuda":
                index = index.pin_memory().to(self.runtime.device, non_blocking=True)
            picked = tuple(self._on_device(t[index]) for t in self.resident)
            return picked if len(picked) > 1 else picked[0]
        batch = next(self._it)
        if isinstance(batch, (list, tuple)):
            return tuple(self._on_device(t) for t in batch)
        return self.runtime.images(batch)

    def _on_device(self, t: torch.Tensor) -> torch.Tensor:
        """Images in the run's layout and precision; class labels (integers) as they are."""
        if t.is_floating_point():
            return self.runtime.images(t)
        return t.to(self.runtime.device, non_blocking=True)


def _resident(dataset: ImageDataset, runtime: Runtime) -> tuple[torch.Tensor, ...] | None:
    """The whole data set stacked on the device (a tensor per part of an item), or None if too large."""
    first = dataset[0]
    parts = first if isinstance(first, (tuple, list)) else (first,)
    if len(dataset) * sum(p.numel() for p in parts) * 4 > RESIDENT_BYTES:  # type: ignore[arg-type]
        return None
    items = [dataset[i] for i in range(len(dataset))]  # type: ignore[arg-type]
    if not isinstance(first, (tuple, list)):
        return (runtime.images(torch.stack(items).float()),)
    stacked = [torch.stack([item[k] for item in items]) for k in range(len(parts))]
    return tuple(runtime.images(t.float()) if t.is_floating_point() else t.to(runtime.device) for t in stacked)
