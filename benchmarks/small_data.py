"""Small data sets (docs/small-data.md): the figures of each tool, on the embedded digits, as JSON (stdout).

    python benchmarks/small_data.py ada        [--images 100] [--steps 2000] [--seeds 0 1] [--targets 0.6 0.8]
    python benchmarks/small_data.py finetune   [--images 100] [--steps 300]  [--seeds 0]
    python benchmarks/small_data.py dropping   [--seeds 0 1 2 3 4] [--set KEY=VALUE ...]
    python benchmarks/small_data.py memorising [--images 8] [--steps 1500]

- `ada`: dcgan at 32 px, width 32 (batch 64, or half the images), on `--images` digits in a folder, without
  and with adaptive augmentation (each of `--targets`, 20k images); D's real/fake gap (D(x) - D(G(z)) over
  the last fifth of the metrics), p at the end, and FID against all 1,797 digits (own extractor trained on
  them, so a run that learnt only its training images is not favoured).
- `finetune`: the headline dcgan-mnist run on all digits, then `--images` sevens for `--steps` steps
  started from it (`--init-from`) and from scratch: FID on the sevens' own features and the share of
  samples a digit classifier reads as 7.
- `dropping`: dcgan-mnist runs (default settings, or `--set` ones) over seeds: the mode_imbalance at each
  sample step, the events raised, and the digit classifier's histogram of 1,000 samples.
- `memorising`: dcgan-mnist on `--images` digits (batch 8): near_copies at sample steps, the events, and
  `ganforge evaluate`'s memorisation.

Every run trains alone, one after the other, under --out.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
from pathlib import Path

import numpy as np
import torch


def _digits_folder(folder: Path, n: int, seed: int, label: int | None = None) -> Path:
    from PIL import Image

    from ganforge.data.builtin import digits_images

    x, y = digits_images(28, 1)
    pool = torch.arange(len(x)) if label is None else torch.nonzero(y == label).flatten()
    picked = pool[torch.randperm(len(pool), generator=torch.Generator().manual_seed(seed))[:n]]
    folder.mkdir(parents=True, exist_ok=True)
    for i in picked.tolist():
        Image.fromarray(((x[i, 0] + 1) * 127.5).round().byte().numpy()).save(folder / f"{i:05d}.png")
    return folder


def _classifier():
    from ganforge.data.builtin import digits_images
    from ganforge.metrics.classes import ClassifierView

    x, y = digits_images(28, 1)
    return ClassifierView(x, y)


def _rows(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line.strip()]


def _events(run: Path) -> list[dict]:
    path = run / "events.jsonl"
    lines = path.read_text().splitlines() if path.exists() else []
    return [{k: e[k] for k in ("step", "kind", "values")} for e in map(json.loads, lines)]


def ada(args: argparse.Namespace) -> dict:
    import ganforge
    from ganforge.api import resolve_config
    from ganforge.metrics.generated import Evaluator

    data = _digits_folder(args.out / f"digits{args.images}", args.images, seed=1)
    reference = resolve_config("dcgan", data="digits", image_size=32, overrides=["data.channels=1"])
    evaluator = Evaluator(reference, args.out / "all-digits", "own", images=1000)
    runs = []
    for seed in args.seeds:
        for target in (0.0, *args.targets):
            sets = ["data.channels=1", "model.width=32", f"train.batch_size={min(64, args.images // 2)}", *args.set]
            sets += [f"data.ada_target={target}", "data.ada_images=20000"] if target else []
            out = args.out / f"ada-{args.images}-{seed}-{target or 'plain'}"
            ganforge.train("dcgan", data=str(data), image_size=32, steps=args.steps, seed=seed, out=out, quiet=True,
                           device=args.device, overrides=sets)  # fmt: skip
            rows = _rows(out)
            last = rows[-max(len(rows) // 5, 1) :]
            scores = evaluator(ganforge.load(out, device=args.device))
            runs.append({"seed": seed, "ada_target": target, "steps": rows[-1]["step"],
                         "d_gap": round(float(np.mean([r["D_x"] - r["D_G_z"] for r in last])), 4),
                         "p_end": rows[-1].get("augment_p"), "fid_all_digits": round(scores["fid"], 3),
                         "classes_covered": scores["classes"]["coverage"]})  # fmt: skip
    return {"images": args.images, "steps": args.steps, "runs": runs}


def finetune(args: argparse.Namespace) -> dict:
    import ganforge
    from ganforge.metrics.generated import Evaluator

    source = args.out / "source-digits"
    if not (source / "checkpoints" / "latest.pt").exists():
        ganforge.train("dcgan-mnist", data="digits", steps=1500, out=source, quiet=True, device=args.device)
    sevens = _digits_folder(args.out / f"sevens{args.images}", args.images, seed=0, label=7)
    view, runs = _classifier(), []
    for seed in args.seeds:
        for start in ("init_from", "scratch"):
            out = args.out / f"sevens-{seed}-{start}"
            ganforge.train("dcgan-mnist", data=str(sevens), image_size=28, steps=args.steps, seed=seed, out=out,
                           quiet=True, device=args.device, overrides=["data.channels=1", *args.set],
                           init_from=str(source) if start == "init_from" else None)  # fmt: skip
            g = ganforge.load(out, device=args.device)
            fid = Evaluator(g.config, args.out / "sevens-features", "own", images=1000, device=g.device)(g)["fid"]
            read = float((view.proba(g.sample(1000, seed=0)).argmax(1) == 7).mean())
            runs.append({"seed": seed, "start": start, "fid": round(fid, 3), "read_as_7": round(read, 3)})
    return {"images": args.images, "steps": args.steps, "runs": runs}


def dropping(args: argparse.Namespace) -> dict:
    import ganforge

    view, runs = _classifier(), []
    for seed in args.seeds:
        out = args.out / f"dropping-{seed}"
        ganforge.train("dcgan-mnist", data="digits", seed=seed, out=out, quiet=True, device=args.device,
                       overrides=args.set)  # fmt: skip
        share = np.bincount(view.proba(ganforge.load(out).sample(1000, seed=123)).argmax(1), minlength=10) / 1000
        probe = [(r["step"], round(r["mode_imbalance"], 3), round(r["diversity"], 3))
                 for r in _rows(out) if "mode_imbalance" in r]  # fmt: skip
        runs.append({"seed": seed, "mode_imbalance": probe, "events": _events(out),
                     "class_shares": [round(float(s), 3) for s in share]})  # fmt: skip
    raised = sum(any(e["kind"] == "mode_dropping" for e in r["events"]) for r in runs)
    return {"overrides": args.set, "runs_with_mode_dropping": raised, "runs": runs}


def memorising(args: argparse.Namespace) -> dict:
    import ganforge

    data = _digits_folder(args.out / f"tiny{args.images}", args.images, seed=0)
    out = args.out / f"copy-{args.images}"
    ganforge.train("dcgan-mnist", data=str(data), image_size=28, steps=args.steps, batch_size=min(8, args.images),
                   out=out, quiet=True, device=args.device, overrides=["data.channels=1", *args.set])  # fmt: skip
    results, _ = ganforge.evaluate(out, device=args.device, images=1000)
    copies = [(r["step"], r["near_copies"]) for r in _rows(out) if "near_copies" in r]
    return {"images": args.images, "steps": args.steps, "near_copies_at_sample_steps": copies,
            "events": _events(out), "evaluate": {k: results.get(k) for k in ("extractor", "near_copies", "note")},
            "median_ratio": results["memorisation"]["median_ratio"]}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("what", choices=["ada", "finetune", "dropping", "memorising"])
    p.add_argument("--images", type=int)
    p.add_argument("--steps", type=int)
    p.add_argument("--seeds", type=int, nargs="+")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="a config override")
    p.add_argument("--targets", type=float, nargs="+", default=[0.6, 0.8], help="ada: the targets of r_t to try")
    p.add_argument("--out", type=Path, default=Path("runs/small-data"))
    p.add_argument("--device", default="auto")
    args = p.parse_args(argv)
    defaults = {"ada": (100, 2000, [0, 1]), "finetune": (100, 300, [0]), "dropping": (0, 0, [0, 1, 2, 3, 4]),
                "memorising": (8, 1500, [0])}  # fmt: skip
    images, steps, seeds = defaults[args.what]
    args.images, args.steps, args.seeds = args.images or images, args.steps or steps, args.seeds or seeds
    figures = {"ada": ada, "finetune": finetune, "dropping": dropping, "memorising": memorising}[args.what](args)
    from ganforge.devices import cpu_bfloat16

    device = {"device": args.device, "cpu": platform.processor() or platform.machine(), "cpu_bfloat16": cpu_bfloat16(),
              "torch": torch.__version__, "threads": torch.get_num_threads()}  # fmt: skip
    json.dump({"what": args.what, "device": device, **figures}, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
