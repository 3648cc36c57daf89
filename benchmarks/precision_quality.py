"""Does bfloat16 cost quality? Each task trained in float32 and in bfloat16 autocast for the same steps,
over several seeds, then evaluated, as JSON (stdout):

    python benchmarks/precision_quality.py [--seeds 0 1 2] [--digits-steps 1000] [--restore-steps 400]
                                           [--tasks digits shapes] [--out runs/precision] [--device auto]
    python benchmarks/precision_quality.py --merge A.json B.json   # one summary of earlier results

- digits: `dcgan-mnist` on the embedded digits, FID with the run's own features (lower is better) and the
  classifier view (classes covered, mean confidence);
- shapes: `unet-restore` (denoising the embedded shapes pairs, 64 px), PSNR and SSIM on the held-out
  pairs (higher is better).

For each task and precision: the mean and the sample standard deviation over the seeds, the difference of
the means (bf16 - fp32), and the noise it is read against: the standard error of that difference,
sqrt(sd_fp32^2/n + sd_bf16^2/n). A difference within two standard errors is within the noise of a seed.
Every run trains alone, one after the other; the figures and the device go to the JSON.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import statistics
import sys
import time
from pathlib import Path

TASKS = {  # name: (preset, data, the metrics read from the evaluation)
    "digits": ("dcgan-mnist", "digits", ("fid", "confidence", "coverage")),
    "shapes": ("unet-restore", None, ("psnr", "ssim")),
}


def run_one(task: str, precision: str, seed: int, steps: int, out: Path, device: str) -> dict:
    import ganforge

    preset, data, _ = TASKS[task]
    started = time.perf_counter()
    run = ganforge.train(preset, data=data, steps=steps, seed=seed, out=out / f"{task}-{precision}-{seed}",
                         quiet=True, device=device, overrides=[f"train.precision={precision}"])  # fmt: skip
    seconds = time.perf_counter() - started
    results, _ = ganforge.evaluate(run.dir, device=device)
    if task == "digits":
        scores = {"fid": results["fid"], "confidence": results["classes"]["mean_confidence"],
                  "coverage": results["classes"]["coverage"]}  # fmt: skip
    else:
        scores = {"psnr": results["model"]["psnr"], "ssim": results["model"]["ssim"]}
    return {"task": task, "preset": preset, "precision": precision, "seed": seed, "steps": steps,
            "train_seconds": round(seconds, 1), **{k: round(float(v), 4) for k, v in scores.items()}}  # fmt: skip


def summarise(rows: list[dict]) -> list[dict]:
    """Per task and metric: mean and sd of each precision, their difference and its standard error."""
    out = []
    for task, (_, _, metrics) in TASKS.items():
        ours = [r for r in rows if r["task"] == task]
        for metric in metrics:
            values = {p: [r[metric] for r in ours if r["precision"] == p] for p in ("fp32", "bf16")}
            if not all(len(v) >= 2 for v in values.values()):
                continue
            mean = {p: statistics.fmean(v) for p, v in values.items()}
            sd = {p: statistics.stdev(v) for p, v in values.items()}
            error = math.sqrt(sum(sd[p] ** 2 / len(values[p]) for p in values))
            difference = mean["bf16"] - mean["fp32"]
            out.append({
                "task": task, "metric": metric, "fp32_mean": round(mean["fp32"], 4), "fp32_sd": round(sd["fp32"], 4),
                "bf16_mean": round(mean["bf16"], 4), "bf16_sd": round(sd["bf16"], 4),
                "difference": round(difference, 4), "standard_error": round(error, 4),
                "within_noise": abs(difference) <= 2 * error,
            })  # fmt: skip
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--tasks", nargs="+", default=list(TASKS), choices=list(TASKS))
    parser.add_argument("--digits-steps", type=int, default=1000)
    parser.add_argument("--restore-steps", type=int, default=400)
    parser.add_argument("--out", type=Path, default=Path("runs/precision"))
    parser.add_argument("--device", default="auto")
    parser.add_argument("--merge", type=Path, nargs="+", help="summarise the runs of these result files together")
    args = parser.parse_args()
    if args.merge:
        reports = [json.loads(path.read_text()) for path in args.merge]
        rows = [row for report in reports for row in report["runs"]]
        merged = {**reports[0], "runs": rows, "summary": summarise(rows), "merged": [str(p) for p in args.merge]}
        print(json.dumps(merged, indent=1))
        return

    import torch

    from ganforge.devices import cpu_bfloat16

    rows = []
    for task in args.tasks:
        steps = args.digits_steps if task == "digits" else args.restore_steps
        for seed in args.seeds:
            for precision in ("fp32", "bf16"):
                rows.append(run_one(task, precision, seed, steps, args.out, args.device))
                print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    device = torch.cuda.get_device_name() if torch.cuda.is_available() and args.device != "cpu" else "cpu"
    report = {
        "device": device, "cpu": platform.processor() or platform.machine(), "cpu_bfloat16": cpu_bfloat16(),
        "threads": torch.get_num_threads(), "torch": torch.__version__, "runs": rows, "summary": summarise(rows),
    }  # fmt: skip
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
