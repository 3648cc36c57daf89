"""Endless, reproducible batches: the order depends only on (seed, epoch), so a run resumed at step k
sees exactly the batches an uninterrupted run would."""

from __future__ import annotations

import os
import queue
import threading
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader

from ..data.base import ImageDataset
from ..data.packed import to_float
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


class BatchStream:
    """Batches of a data set on the runtime's device (and memory format), forever; `batches_per_epoch`
    tells epochs from steps; `waited()` the seconds the caller has waited for batches since it last asked.

    A data set that fits in `resident_mib` (a packed set as uint8, an in-memory one as float32) is put on
    the device once and each batch is an index into it there, with no loader and no copy of images per
    step. A packed set larger than that is gathered a batch at a time from its memory-mapped arrays by a
    thread, as uint8, and converted on the device. Other data sets come through a DataLoader with workers,
    pinned memory and prefetching. All give the same batches in the same order.
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
        resident_mib: int = 1024,
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
        self._waited, self._it, self._gatherer = 0.0, None, None
        gathers = getattr(dataset, "gathers", False)
        self.resident = _resident(dataset, runtime, resident_mib * 2**20) if dataset.in_memory or gathers else None
        if self.resident is not None:
            self._order = iter(self.sampler)
            return
        if gathers:
            self._gatherer = Gatherer(dataset, iter(self.sampler), pin=runtime.device.type == "cuda")
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

    def waited(self) -> float:
        """Seconds spent waiting for data since the last call (the `data_wait` of the metrics)."""
        waited, self._waited = self._waited, 0.0
        return waited

    def close(self) -> None:
        """Stop the loader's worker processes (or the gathering thread) now rather than whenever the stream
        is collected."""
        it, self._it = self._it, None
        if hasattr(it, "_shutdown_workers"):
            it._shutdown_workers()
        if self._gatherer is not None:
            self._gatherer.stop()

    def __del__(self) -> None:
        if getattr(self, "_gatherer", None) is not None:
            self._gatherer.stopping.set()  # its thread ends at its next put

    def __next__(self):
        if self.resident is not None:
            index = torch.tensor(next(self._order), dtype=torch.long)  # (batch,) or, unpaired, (batch, 2)
            if self.runtime.device.type == "cuda":
                index = index.pin_memory().to(self.runtime.device, non_blocking=True)
            columns = index.unbind(1) if index.dim() == 2 else [index] * len(self.resident)
            picked = tuple(self._on_device(t[i]) for t, i in zip(self.resident, columns, strict=True))
            return picked if len(picked) > 1 else picked[0]
        started = time.perf_counter()
        batch = self._gatherer.next() if self._gatherer is not None else next(self._it)
        self._waited += time.perf_counter() - started
        if isinstance(batch, (list, tuple)):
            return tuple(self._on_device(t) for t in batch)
        return self._on_device(batch)

    def _on_device(self, t: torch.Tensor) -> torch.Tensor:
        """Images in the run's layout and precision (packed uint8 ones converted there); class labels
        (integers) as they are."""
        if t.dtype == torch.uint8:  # (B, H, W, C) as stored: converted on the device
            layout = torch.channels_last if self.runtime.channels_last else torch.contiguous_format
            return to_float(t.to(self.runtime.device, non_blocking=True), layout)
        if t.is_floating_point():
            return self.runtime.images(t)
        return t.to(self.runtime.device, non_blocking=True)


class Gatherer:
    """A thread that gathers the batches of a packed data set ahead of the step (`depth` of them), as
    uint8, pinned for the copy to a GPU; an error in it is raised by `next`."""

    def __init__(self, dataset: ImageDataset, order: Iterator[list], pin: bool, depth: int = 4):
        self.dataset, self.order, self.pin = dataset, order, pin
        self.queue: queue.Queue = queue.Queue(depth)
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, name="ganforge-gather", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            for index in self.order:
                parts = _gather(self.dataset, index)
                parts = tuple(p.pin_memory() if self.pin and p.dtype == torch.uint8 else p for p in parts)
                while not self.stopping.is_set():
                    try:
                        self.queue.put(parts, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if self.stopping.is_set():
                    return
        except BaseException as e:  # handed to the training thread
            self.queue.put(e)

    def next(self) -> Any:
        item = self.queue.get()
        if isinstance(item, BaseException):
            raise item
        return item if len(item) > 1 else item[0]

    def stop(self) -> None:
        self.stopping.set()
        self.thread.join(timeout=5)


def _parts(value: torch.Tensor | tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]:
    return value if isinstance(value, tuple) else (value,)


def _gather(dataset: Any, index: list) -> tuple[torch.Tensor, ...]:
    """A batch of a packed data set as stored: uint8 images (and integer labels), each part a tensor."""
    return _parts(dataset.gather(index))


def _resident(dataset: ImageDataset, runtime: Runtime, budget: int) -> tuple[torch.Tensor, ...] | None:
    """The whole data set on the device (a tensor per part of an item), or None if over `budget` bytes."""
    if getattr(dataset, "gathers", False):  # packed: as stored, uint8
        if dataset.stored_bytes > budget:  # type: ignore[attr-defined]
            return None
        return tuple(t.to(runtime.device) for t in _parts(dataset.whole()))  # type: ignore[attr-defined]
    if getattr(dataset, "unpaired", False):  # each side stacked alone: the stream indexes them apart
        sides = (dataset.a, dataset.b)  # type: ignore[attr-defined]
        if sum(len(x) * x[0].numel() for x in sides) * 4 > budget:
            return None
        return tuple(runtime.images(torch.stack([x[i] for i in range(len(x))]).float()) for x in sides)
    first = dataset[0]
    parts = first if isinstance(first, (tuple, list)) else (first,)
    if len(dataset) * sum(p.numel() for p in parts) * 4 > budget:  # type: ignore[arg-type]
        return None
    items = [dataset[i] for i in range(len(dataset))]  # type: ignore[arg-type]
    if not isinstance(first, (tuple, list)):
        return (runtime.images(torch.stack(items).float()),)
    stacked = [torch.stack([item[k] for item in items]) for k in range(len(parts))]
    return tuple(runtime.images(t.float()) if t.is_floating_point() else t.to(runtime.device) for t in stacked)
