"""CycleGAN on the embedded unpaired task: how far above the trivial baselines it translates held-out label
maps, over seeds, as JSON (stdout):

    python benchmarks/cyclegan_quality.py [--preset cyclegan-shapes] [--steps 200 | --minutes 3]
                                          [--seeds 0 1 2] [--set KEY=VALUE ...] [--out runs/cyclegan]

Each run trains on the label maps of 1,000 scenes (side A) and the renderings of 1,000 others (side B), so
no image has its partner, and is then scored by `ganforge evaluate` (own features) on the 100 held-out test
pairs that training never paired: PSNR, SSIM and FID of A -> B beside the input itself and the mean
training rendering, and the same for B -> A. `gain_db` is the model's A -> B PSNR over the best trivial
baseline's. Every run trains alone, one after the other; the figures and the device go to the JSON.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path


def run_one(args: argparse.Namespace, seed: int) -> dict:
    import ganforge

    budget = {"minutes": args.minutes} if args.minutes else {"steps": args.steps}
    started = time.perf_counter()
    run = ganforge.train(args.preset, seed=seed, out=args.out / f"{args.preset}-{seed}", quiet=True,
                         device=args.device, overrides=args.set, **budget)  # fmt: skip
    seconds = time.perf_counter() - started
    results, _ = ganforge.evaluate(run.dir, device=args.device)
    ways = {way: {name: {k: round(v, 4) for k, v in row.items() if k != "images"} for name, row in rows.items()}
            for way, rows in results.items() if way in ("AtoB", "BtoA")}  # fmt: skip
    a_to_b = results["AtoB"]
    best_trivial = max(row["psnr"] for name, row in a_to_b.items() if name.startswith("baseline"))
    return {"seed": seed, "steps": results["step"], "train_seconds": round(seconds, 1),
            "gain_db": round(a_to_b["model"]["psnr"] - best_trivial, 3), **ways}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--preset", default="cyclegan-shapes")
    budget = p.add_mutually_exclusive_group()
    budget.add_argument("--steps", type=int, default=200)
    budget.add_argument("--minutes", type=float)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="a config override")
    p.add_argument("--out", type=Path, default=Path("runs/cyclegan-quality"))
    p.add_argument("--device", default="auto")
    args = p.parse_args(argv)
    import torch

    runs = [run_one(args, seed) for seed in args.seeds]
    gains = [r["gain_db"] for r in runs]
    summary = {"gain_db_mean": round(statistics.fmean(gains), 3), "gain_db_min": min(gains)}
    if len(gains) > 1:
        summary["gain_db_sd"] = round(statistics.stdev(gains), 3)
    from ganforge.devices import cpu_bfloat16

    device = {"device": args.device, "cpu": platform.processor() or platform.machine(), "cpu_bfloat16": cpu_bfloat16(),
              "torch": torch.__version__, "threads": torch.get_num_threads()}  # fmt: skip
    json.dump({"preset": args.preset, "overrides": args.set, "device": device, "summary": summary, "runs": runs},
              sys.stdout, indent=2)  # fmt: skip
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
