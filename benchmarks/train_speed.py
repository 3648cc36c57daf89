"""Training throughput of each preset at its default batch size on the present device, as JSON.

    python benchmarks/train_speed.py [--presets dcgan-mnist dcgan] [--steps 10] [--device auto]

Each preset runs in its own process so that its peak memory (CUDA allocator peak, or the process's
peak resident set on the CPU) is its own. Data: the embedded digits (for pix2pix, the embedded shapes
pairs; unet-restore: its own degraded shapes) at the preset's resolution. For paired presets it also gives the
time of one 400-image epoch; unet-restore is measured once for each up_mode.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def measure(preset: str, steps: int, warmup: int, device: str, overrides: list[str]) -> dict:
    import torch

    from ganforge.api import resolve_config
    from ganforge.train.loop import Trainer

    cfg = resolve_config(preset, device=device, overrides=overrides)
    data = {} if cfg.data.degrade else {"data.name": "shapes" if cfg.task == "paired" else "digits"}
    cfg = resolve_config(cfg, overrides={**data, "train.epochs": 0})
    with tempfile.TemporaryDirectory() as tmp:
        t = Trainer(cfg, Path(tmp) / "run", quiet=True)
        cuda = t.device.type == "cuda"
        sync = torch.cuda.synchronize if cuda else (lambda: None)
        for _ in range(warmup):
            t.train_step()
        sync()
        if cuda:
            torch.cuda.reset_peak_memory_stats()
        start = time.perf_counter()
        for _ in range(steps):
            t.train_step()
        sync()
        seconds = time.perf_counter() - start
    peak = torch.cuda.max_memory_allocated() if cuda else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return {
        "preset": preset,
        **({"overrides": overrides} if overrides else {}),
        "batch_size": cfg.train.batch_size,
        "image_size": cfg.data.image_size,
        "steps_timed": steps,
        "seconds_per_step": round(seconds / steps, 4),
        "images_per_s": round(steps * cfg.train.batch_size / seconds, 1),
        "peak_memory_mb": round(peak / 2**20, 1),
        # seed 000 quotes about 15 s per epoch of the 400 facades on one V100 (batch 1, 256x256)
        **(
            {"epoch_400_images_s": round(400 / cfg.train.batch_size * seconds / steps, 1)}
            if cfg.task == "paired"
            else {}
        ),
        "peak_memory_kind": "cuda_max_allocated" if cuda else "process_max_rss",
        "device": torch.cuda.get_device_name() if cuda else f"cpu ({torch.get_num_threads()} threads)",
        "torch": torch.__version__,
    }


def main() -> None:
    from ganforge.config import preset_names

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--presets", nargs="*", default=None, help="default: every preset")
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--device", default="auto")
    p.add_argument("--one", help=argparse.SUPPRESS)
    p.add_argument("--set", action="append", default=[], help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.one:
        print(json.dumps(measure(a.one, a.steps, a.warmup, a.device, a.set)))
        return
    presets = a.presets or preset_names()
    results = []
    runs = [
        (name, [f"model.up_mode={m}"])
        for name in presets
        for m in ("upconv", "upsample", "pixelshuffle")
        if name == "unet-restore"
    ] + [(name, []) for name in presets if name != "unet-restore"]
    for name, overrides in runs:
        cmd = [
            sys.executable,
            __file__,
            "--one",
            name,
            "--steps",
            str(a.steps),
            "--warmup",
            str(a.warmup),
            "--device",
            a.device,
            *[x for o in overrides for x in ("--set", o)],
        ]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
        results.append(json.loads(out.strip().splitlines()[-1]))
    print(json.dumps({"benchmark": "train_speed", "machine": platform.machine(), "results": results}, indent=2))


if __name__ == "__main__":
    main()
