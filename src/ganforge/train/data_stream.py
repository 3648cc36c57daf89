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
    With `n_other` (unpaired data: two piles of images that do not correspond) each index is a pair
    (i, j): i as above, j from an independent stream of permutations of the other pile, read on across its
    own epochs, so that the two sides are drawn independently and a resumed run draws the same.
    """

    def __init__(self, n: int, batch_size: int, seed: int, start_batch: int = 0, rank: int = 0, world_size: int = 1,
                 n_other: int | None = None):  # fmt: skip
        self.n, self.batch_size, self.seed = n, batch_size, seed
        self.rank, self.world_size = rank, world_size
        self.batches_per_epoch = n // (batch_size * world_size)
        self.start_batch = start_batch
        self.n_other = n_other
        self._cached: tuple[int, np.ndarray] | None = None

    def __iter__(self) -> Iterator[list]:
        epoch, b = divmod(self.start_batch, self.batches_per_epoch)
        count = self.start_batch
        while True:
            order = np.random.default_rng([self.seed, epoch]).permutation(self.n)
            for i in range(b, self.batches_per_epoch):
                first = (i * self.world_size + self.rank) * self.batch_size
                batch = order[first : first + self.batch_size].tolist()
                if self.n_other is not None:
                    batch = list(zip(batch, self._other(count), strict=True))
                count += 1
                yield batch
            epoch, b = epoch + 1, 0

    def _other(self, count: int) -> list[int]:
        """The other pile's indices of global batch `count` (this process's share of it)."""
        start = (count * self.world_size + self.rank) * self.batch_size
        positions = range(start, start + self.batch_size)
        return [int(self._other_order(p // self.n_other)[p % self.n_other]) for p in positions]

    def _other_order(self, epoch: int) -> np.ndarray:
        """The other pile's permutation in its epoch `epoch` (kept while it lasts)."""
        if self._cached is None or self._cached[0] != epoch:
            self._cached = (epoch, np.random.default_rng([self.seed, 1 << 20, epoch]).permutation(self.n_other))
        return self._cached[1]


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
        other = dataset.other_size if getattr(dataset, "unpaired", False) else None  # type: ignore[attr-defined]
        self.sampler = EpochBatches(n, batch_size, seed, start_batch, rank, world_size, n_other=other)
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
            index = torch.tensor(next(self._order), dtype=torch.long)  # (batch,) or, unpaired, (batch, 2)
            if self.runtime.device.type == "cuda":
                index = index.pin_memory().to(self.runtime.device, non_blocking=True)
            columns = index.unbind(1) if index.dim() == 2 else [index] * len(self.resident)
            picked = tuple(self._on_device(t[i]) for t, i in zip(self.resident, columns, strict=True))
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
    if getattr(dataset, "unpaired", False):  # each side stacked alone: the stream indexes them apart
        sides = (dataset.a, dataset.b)  # type: ignore[attr-defined]
        if sum(len(x) * x[0].numel() for x in sides) * 4 > RESIDENT_BYTES:
            return None
        return tuple(runtime.images(torch.stack([x[i] for i in range(len(x))]).float()) for x in sides)
    first = dataset[0]
    parts = first if isinstance(first, (tuple, list)) else (first,)
    if len(dataset) * sum(p.numel() for p in parts) * 4 > RESIDENT_BYTES:  # type: ignore[arg-type]
        return None
    items = [dataset[i] for i in range(len(dataset))]  # type: ignore[arg-type]
    if not isinstance(first, (tuple, list)):
        return (runtime.images(torch.stack(items).float()),)
    stacked = [torch.stack([item[k] for item in items]) for k in range(len(parts))]
    return tuple(runtime.images(t.float()) if t.is_floating_point() else t.to(runtime.device) for t in stacked)
