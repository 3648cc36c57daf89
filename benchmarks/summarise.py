"""One line per result of the benchmarks' JSON files (train_speed, baseline_loop, real_runs), for a log.

python benchmarks/summarise.py FILE.json [FILE.json ...]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

SHOWN = (
    "preset", "case", "variant", "runtime", "seconds_per_step", "images_per_s", "peak_memory_mb",
    "epoch_400_images_s", "achieved_tflops", "fraction_of_peak", "compile_first_step_s", "speedup_over_baseline",
    "train_seconds", "images_per_s_last_window",
)  # fmt: skip


def line(result: dict) -> str:
    parts = [f"{k}={result[k]}" for k in SHOWN if result.get(k) not in (None, [], "")]
    evaluation = result.get("evaluation", {})
    for key in ("fid", "precision", "recall", "coverage"):
        if key in evaluation:
            parts.append(f"{key}={evaluation[key]:.3g}")
    if "classes" in evaluation:
        parts.append(f"digits_covered={evaluation['classes']['coverage']}")
    for name, row in evaluation.items():
        if isinstance(row, dict) and "psnr" in row:
            parts.append(f"{name}: psnr={row['psnr']:.2f}")
    return "  ".join(parts)


def main() -> None:
    for path in sys.argv[1:]:
        try:
            report = json.loads(Path(path).read_text())
        except (OSError, ValueError) as e:
            print(f"{path}: {e}")
            continue
        print(f"# {path} ({report.get('device', '')})")
        for result in report["results"]:
            print(line(result))


if __name__ == "__main__":
    main()
