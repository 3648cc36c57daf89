"""A short real training run of each preset on the embedded data, then its evaluation, as JSON.

    python benchmarks/real_runs.py [--presets dcgan-mnist pix2pix] [--steps N] [--out runs/real]

Each run goes through the command line (`ganforge train`, then `ganforge evaluate RUN --json`), as a user's
would: the JSON gives the training time, the throughput of its last log window and the evaluation's numbers
(noise-to-image: FID, KID, precision, recall, density, coverage with the run's own features, and the
classifier view of the digits; image-to-image: L1, PSNR and SSIM beside the trivial baselines).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

DATA = {"dcgan-mnist": "digits", "dcgan": "digits", "dcgan-128": "digits", "pix2pix": "shapes", "unet-restore": None}
STEPS = {"dcgan-mnist": 1500, "dcgan": 1500, "dcgan-128": 1000, "pix2pix": 2000, "unet-restore": 1500}


def ganforge(*args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "ganforge", *args], capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"ganforge {' '.join(args)} failed:\n{done.stderr[-3000:]}")
    return done.stdout


def run(preset: str, steps: int, out: Path, extra: list[str]) -> dict:
    run_dir = out / preset
    data = ["--data", DATA[preset]] if DATA[preset] else []
    start = time.perf_counter()
    ganforge("train", preset, *data, "--steps", str(steps), "--out", str(run_dir), "--quiet", *extra)
    seconds = time.perf_counter() - start
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    evaluation = json.loads(ganforge("evaluate", str(run_dir), "--json"))
    return {
        "preset": preset,
        "steps": steps,
        "train_seconds": round(seconds, 1),
        "images_per_s_last_window": rows[-1].get("images_per_s"),
        "evaluation": evaluation,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--presets", nargs="*", default=list(DATA))
    p.add_argument("--steps", type=int, default=0, help="steps of each run (default: a preset's own figure)")
    p.add_argument("--out", type=Path, default=Path("runs/real"))
    p.add_argument("--cuda-graphs", action="store_true", help="train with train.cuda_graphs")
    a = p.parse_args()
    extra = ["--cuda-graphs"] if a.cuda_graphs else []
    results = [run(name, a.steps or STEPS[name], a.out, extra) for name in a.presets]
    print(json.dumps({"benchmark": "real_runs", "results": results}, indent=2))


if __name__ == "__main__":
    main()
