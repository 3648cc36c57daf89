"""Image quality at equal cost: every noise-to-image preset trained on the embedded digits for the same
wall-time budget on this machine, then evaluated, as JSON (stdout) and a Markdown table.

    python benchmarks/quality.py [--minutes 3] [--entries dcgan-mnist r3gan-digits ...] [--out runs/quality]
                                 [--device auto] [--markdown FILE.md] [--seed 0]

Each entry trains alone (never two at once), with `--minutes` as its budget: a preset with a fixed number
of steps and no schedule gets as many steps as the budget allows (its `train.steps` raised), one whose
schedules follow its length (r3gan) keeps its own steps and the budget caps them. Then `ganforge
evaluate` with the run's own features (FID, precision, recall), the classifier view (classes covered,
mean confidence), for a conditional run the share read as the label asked for and the intra-class FID,
and a judge of our own beside them: the Frechet distance of 898 samples to half of the real digits on
their 8x8 pixels (the digits' native resolution), over the same distance between the two halves of the
real digits (1: as close as real digits are to each other).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

ENTRIES = {  # name: (preset, overrides, whether the budget alone sets the length)
    "dcgan-mnist": ("dcgan-mnist", [], True),
    "dcgan": ("dcgan", ["data.image_size=32", "data.channels=1"], True),
    "dcgan-128": ("dcgan-128", ["data.channels=1"], True),
    "r3gan-digits": ("r3gan-digits", [], False),
    "r3gan-digits-conditional": ("r3gan-digits", ["model.conditional=true"], False),
}


def native_frechet(images: torch.Tensor) -> tuple[float, float]:
    """(Frechet distance of `images` to the real digits, that of two halves of the real digits), on 8x8
    pixels (the digits' native resolution) in their 0..16 scale, at equal sample sizes. The real digits
    go the way the samples go: upsampled to the samples' size as the training data were, then pooled back
    to 8x8 (the round trip is not lossless; against the raw 8x8 digits it alone would read 10 times
    real-versus-real)."""
    from ganforge.data.builtin import digits_images
    from ganforge.metrics.distribution import fid

    def pooled(x: torch.Tensor) -> torch.Tensor:
        small = F.adaptive_avg_pool2d(x.float().mean(1, keepdim=True), 8)
        return ((small + 1) * 8).clamp(0, 16).flatten(1).double()

    real = pooled(digits_images(images.shape[-1])[0])
    order = torch.randperm(len(real), generator=torch.Generator().manual_seed(0))
    half = len(real) // 2
    first, second = real[order[:half]], real[order[half : 2 * half]]
    return fid(first, pooled(images[:half])), fid(first, second)


def run_entry(name: str, minutes: float, out: Path, device: str, seed: int) -> dict:
    import ganforge

    preset, overrides, by_budget = ENTRIES[name]
    options = {"steps": 10**7} if by_budget else {}
    started = time.perf_counter()
    run = ganforge.train(preset, data="digits", minutes=minutes, out=out / name, quiet=True, device=device,
                         seed=seed, overrides=overrides, **options)  # fmt: skip
    wall = time.perf_counter() - started
    results, _ = ganforge.evaluate(run.dir, device=device)
    g = ganforge.load(run.dir, device=device)
    fd, real_fd = native_frechet(g.sample(2000, seed=1))
    row = {
        "entry": name, "preset": preset, "overrides": overrides, "steps": results["step"],
        "train_seconds": round(wall, 1), "image_size": run.config.data.image_size, "fid_own": round(results["fid"], 3),
        "precision": round(results["precision"], 3), "recall": round(results["recall"], 3),
        "classes_covered": results["classes"]["coverage"], "confidence": results["classes"]["mean_confidence"],
        "native_frechet": round(fd, 3), "native_frechet_real_vs_real": round(real_fd, 3),
        "native_frechet_ratio": round(fd / real_fd, 2),
    }  # fmt: skip
    conditional = results.get("conditional")
    if conditional:
        row["label_accuracy"] = conditional["label_accuracy"]
        row["intra_fid"] = conditional["intra_fid"]
    return row


def markdown(rows: list[dict], minutes: float, device: str) -> str:
    head = ("| preset | steps in the budget | FID (own) | precision | recall | digits covered | confidence | "
            "Frechet 8x8 / real-vs-real | read as the label asked for | intra-class FID |")  # fmt: skip
    lines = [f"{minutes:g} minutes of training each on {device}, embedded digits:", "", head,
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]  # fmt: skip
    for r in rows:
        label = f"{r['label_accuracy']:.1%}" if "label_accuracy" in r else "-"
        intra = f"{r['intra_fid']:.2f}" if r.get("intra_fid") is not None else "-"
        lines.append(
            f"| `{r['entry']}` | {r['steps']:,} | {r['fid_own']:.2f} | {r['precision']:.2f} | {r['recall']:.2f} | "
            f"{r['classes_covered']}/10 | {r['confidence']:.2f} | {r['native_frechet_ratio']:.1f} | {label} | {intra} |"
        )
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=3.0)
    parser.add_argument("--entries", nargs="+", default=list(ENTRIES), choices=list(ENTRIES))
    parser.add_argument("--out", type=Path, default=Path("runs") / f"quality-{time.strftime('%Y%m%d-%H%M%S')}")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--markdown", type=Path, help="also write the table to this file")
    a = parser.parse_args()
    rows = [run_entry(name, a.minutes, a.out, a.device, a.seed) for name in a.entries]
    device = torch.cuda.get_device_name() if torch.cuda.is_available() and a.device != "cpu" else platform.processor()
    device = device or f"CPU ({torch.get_num_threads()} threads)"
    print(json.dumps({"benchmark": "quality", "minutes": a.minutes, "device": device, "torch": torch.__version__,
                      "results": rows}, indent=2))  # fmt: skip
    if a.markdown:
        a.markdown.write_text(markdown(rows, a.minutes, device))
    return 0


if __name__ == "__main__":
    sys.exit(main())
