"""Images per second that the data path delivers to training, as JSON: a plain folder of JPEGs (through
DataLoader workers, at each worker count up to the cores present) against the same images packed by
`ganforge prepare` (gathered from the memory map as uint8, or held whole on the device), at 64 and 256 px.

    python benchmarks/data_speed.py [--sizes 64 256] [--images 2048] [--source 2] [--batch 64] [--device auto]

The JPEGs are photograph-like (smooth colour fields with noise, quality 90) at `--source` times the training
size, as photographs are larger than the size trained at, so the folder pays a decode and a resize for each
image; `--source 1` gives JPEGs already at the training size (the folder's best case). Each figure is the
median of three passes of `--batches` batches after a warm-up; the conversion to float on the device is
included (and synchronised on a GPU), so the figures compare what a step receives.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image


def photos(root: Path, n: int, size: int, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True)
    y, x = np.mgrid[0:size, 0:size] / size
    for i in range(n):
        phase = rng.uniform(0, 6, 3)
        base = np.stack([np.sin(5 * x + p) * np.cos(3 * y - p) for p in phase], -1) * 90 + 128
        noisy = np.clip(base + rng.normal(0, 10, base.shape), 0, 255).astype(np.uint8)
        Image.fromarray(noisy).save(root / f"{i:05d}.jpg", quality=90)
    return root


def rate(stream, batches: int, batch: int, sync) -> float:
    """Images per second over `batches` batches, the median of three passes after a warm-up."""
    for _ in range(3):
        next(stream)
    rates = []
    for _ in range(3):
        sync()
        t0 = time.perf_counter()
        for _ in range(batches):
            next(stream)
        sync()
        rates.append(batches * batch / (time.perf_counter() - t0))
    return round(statistics.median(rates), 1)


class _Next:
    def __init__(self, gatherer):
        self.gatherer = gatherer

    def __next__(self):
        return self.gatherer.next()


def main() -> None:
    from ganforge.data.folder import ImageFolder
    from ganforge.data.packed import PackedImages
    from ganforge.data.prepare import prepare
    from ganforge.devices import resolve_device
    from ganforge.train.data_stream import BatchStream, EpochBatches, Gatherer
    from ganforge.train.runtime import Runtime

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[64, 256])
    p.add_argument("--images", type=int, default=2048)
    p.add_argument("--source", type=float, default=2.0, help="the JPEGs' size as a multiple of the training size")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--batches", type=int, default=12, help="batches timed per pass")
    p.add_argument("--device", default="auto")
    a = p.parse_args()
    device = resolve_device(a.device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    runtime = Runtime(device)
    cores = os.cpu_count() or 1
    result: dict = {"device": str(device), "torch": torch.__version__, "cores": cores, "batch": a.batch}
    result["machine"] = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.machine()
    result["sizes"] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for size in a.sizes:
            folder = photos(Path(tmp) / f"jpeg{size}", a.images, round(size * a.source))
            t0 = time.perf_counter()
            packed = prepare(folder, Path(tmp) / f"packed{size}", image_size=size, quiet=True)
            row: dict = {"jpeg_px": round(size * a.source), "pack_s": round(time.perf_counter() - t0, 2)}
            data = ImageFolder(folder, size, 3, "skip")
            for workers in range(0, cores + 1):
                stream = BatchStream(data, a.batch, 0, runtime, num_workers=workers)
                row[f"jpeg_folder_workers_{workers}"] = rate(stream, a.batches, a.batch, sync)
                stream.close()
            images = PackedImages(packed / "train_images.npy", [])
            gatherer = Gatherer(images, iter(EpochBatches(len(images), a.batch, 0)), pin=device.type == "cuda")
            row["packed_memmap_uint8"] = rate(_Next(gatherer), a.batches, a.batch, lambda: None)  # before conversion
            gatherer.stop()
            for name, budget in (("packed_memmap", 0), ("packed_on_device", 1 << 14)):
                stream = BatchStream(images, a.batch, 0, runtime, resident_mib=budget)
                row[name] = rate(stream, a.batches, a.batch, sync)
                stream.close()
            best = max(v for k, v in row.items() if k.startswith("jpeg_folder"))
            row["jpeg_per_core"] = round(row["jpeg_folder_workers_0"], 1)
            row["memmap_over_best_folder"] = round(row["packed_memmap"] / best, 1)
            row["memmap_over_folder_same_workers"] = round(row["packed_memmap"] / row["jpeg_folder_workers_0"], 1)
            result["sizes"][str(size)] = row
            print(json.dumps({str(size): row}), flush=True)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
