"""Training throughput of each preset at its default batch size on the present device, as JSON.

    python benchmarks/train_speed.py [--presets dcgan-mnist dcgan] [--variants eager default optimised]
                                     [--steps 10] [--device auto]

Variants: `eager` (float32, NCHW, not compiled), `default` (the runtime's defaults on this device: float32
with TF32 on CUDA; on a CPU bfloat16 and channels_last where it computes in bfloat16 natively, float32
elsewhere), `fp32`, `bf16` (with channels_last) and `bf16-nchw`, `optimised` (the defaults plus
torch.compile; the compile time is reported apart) and `graphs` (the defaults, each step replayed as one
CUDA graph). Each (preset, variant) runs in its own process so that
its peak memory (CUDA allocator peak, or the process's peak resident set on the CPU) is its own.

Each result also gives the FLOPs of one training step (convolutions and matrix products, forward and
backward, counted by torch.utils.flop_counter on an eager step), the achieved TFLOP/s, and their fraction
of the device's peak, measured here by a large matrix product in the variant's precision (TF32 for float32
on CUDA, where cuDNN's convolutions use it). Data: the embedded digits (for pix2pix, the embedded shapes
pairs; for cyclegan, the embedded unpaired shapes; unet-restore: its own degraded shapes) at the preset's
resolution. For paired presets it also gives the time of one 400-image epoch; unet-restore is measured once
for each up_mode.
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

VARIANTS = {
    "eager": ["train.precision=fp32", "train.channels_last=off", "train.compile=false"],
    "default": [],
    "optimised": ["train.compile=true"],
    "graphs": ["train.cuda_graphs=true"],
    "fp32": ["train.precision=fp32"],  # float32 whatever auto would choose (channels_last auto: off with it)
    "bf16": ["train.precision=bf16"],  # autocast, and channels_last with it (the eager default before)
    "bf16-nchw": ["train.precision=bf16", "train.channels_last=off"],
    "graphs-fp32": ["train.cuda_graphs=true", "train.precision=fp32"],  # TF32 inside the graph
}


def peak_tflops(device: str, precision: str) -> float:
    """TFLOP/s of a large square matrix product in `precision` (fp32 on CUDA: TF32) on `device`."""
    import torch

    cuda = device.startswith("cuda")
    n = 8192 if cuda else 1024
    dtype = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[precision]
    a, b = (torch.randn(n, n, device=device, dtype=dtype) for _ in range(2))
    torch.backends.cuda.matmul.allow_tf32 = True
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    for _ in range(3):
        a @ b
    sync()
    repeats = 20 if cuda else 5
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    sync()
    return 2 * n**3 * repeats / (time.perf_counter() - start) / 1e12


def step_flops(t) -> int | None:
    """FLOPs of one training step of trainer `t` (its networks must not be compiled), or None where the
    counter cannot follow the step: its module hooks refuse the double backward of gradient penalties
    (and a refused step would leave them behind, slowing every step timed after it)."""
    from torch.utils.flop_counter import FlopCounterMode

    loss = t.cfg.loss
    if loss.r1 or loss.r2 or loss.gan == "wgan-gp":
        return None
    with FlopCounterMode(display=False) as counter:
        t.train_step()
    return counter.get_total_flops()


def step(t) -> None:
    """One training step as the loop takes it: the counter moves on, so that lazy phases (R1 every
    `loss.reg_every` steps, D's repeats) and schedules run at their real rate, not at every step."""
    t.train_step()
    t.progress.step += 1


def measure(preset: str, steps: int, warmup: int, device: str, overrides: list[str]) -> dict:
    import torch

    from ganforge.api import resolve_config
    from ganforge.devices import cpu_bfloat16
    from ganforge.train.loop import Trainer

    cfg = resolve_config(preset, device=device, overrides=overrides)
    data = {} if cfg.data.degrade else {"data.name": "digits" if cfg.task == "unconditional" else "shapes"}
    cfg = resolve_config(cfg, overrides={**data, "train.epochs": 0})
    with tempfile.TemporaryDirectory() as tmp:
        t = Trainer(cfg, Path(tmp) / "run", quiet=True)
        cuda = t.device.type == "cuda"
        sync = torch.cuda.synchronize if cuda else (lambda: None)
        flops = None if t.runtime.compile else step_flops(t)
        sync()
        start = time.perf_counter()
        step(t)
        sync()
        first_step = time.perf_counter() - start
        for _ in range(warmup):
            step(t)
        sync()
        if cuda:
            torch.cuda.reset_peak_memory_stats()
        start = time.perf_counter()
        for _ in range(steps):
            step(t)
        sync()
        seconds = time.perf_counter() - start
    peak = torch.cuda.max_memory_allocated() if cuda else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return {
        "runtime": t.runtime.describe(),
        "precision": t.runtime.precision,
        **({"compile_first_step_s": round(first_step, 1)} if t.runtime.compile else {}),
        "flops_per_step": flops,
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
        "cpu_bfloat16": cpu_bfloat16(),  # the CPU's native bfloat16 instructions, or null
    }


def main() -> None:
    from ganforge.config import preset_names

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--presets", nargs="*", default=None, help="default: every preset")
    p.add_argument("--variants", nargs="*", default=["eager", "default"], choices=list(VARIANTS))
    p.add_argument("--up-modes", nargs="*", default=["upconv", "upsample", "pixelshuffle"], help="unet-restore's")
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
    runs = [(name, [f"model.up_mode={m}"]) for name in presets for m in a.up_modes if name == "unet-restore"] + [
        (name, []) for name in presets if name != "unet-restore"
    ]
    runs = [(name, variant, o) for name, o in runs for variant in a.variants]
    for name, variant, case in runs:
        overrides = [*VARIANTS[variant], *case]
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
        result = json.loads(out.strip().splitlines()[-1])
        results.append({"preset": name, "case": case, "variant": variant, **result})
        print(json.dumps(results[-1]), file=sys.stderr, flush=True)  # kept if a time limit ends the rest
    add_achieved_fraction(results, a.device)
    print(json.dumps({"benchmark": "train_speed", "machine": platform.machine(), "results": results}, indent=2))


def add_achieved_fraction(results: list[dict], device: str) -> None:
    """Achieved TFLOP/s and fraction of the device's peak; a compiled variant takes the FLOPs of its
    eager counterpart (the same arithmetic)."""
    import torch

    device = ("cuda" if torch.cuda.is_available() else "cpu") if device == "auto" else device
    peaks: dict[str, float] = {}
    for r in results:
        if r["flops_per_step"] is None:
            same = [o for o in results if (o["preset"], o["case"]) == (r["preset"], r["case"]) and o["flops_per_step"]]
            r["flops_per_step"] = same[0]["flops_per_step"] if same else None
        if r["flops_per_step"]:
            if r["precision"] not in peaks:
                peaks[r["precision"]] = peak_tflops(device, r["precision"])
            achieved = r["flops_per_step"] / r["seconds_per_step"] / 1e12
            r["achieved_tflops"] = round(achieved, 3)
            r["peak_tflops_measured"] = round(peaks[r["precision"]], 1)
            r["fraction_of_peak"] = round(achieved / peaks[r["precision"]], 4)


if __name__ == "__main__":
    main()
