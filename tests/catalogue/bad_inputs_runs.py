"""The cases of bad_inputs.py about a run folder's life (issue 18): rollbacks, outputs aimed into a run,
crafted or damaged run files, bounds on sizes and counts, seeds, odd config files. Each is (name, argv,
expect, the run whose files must not change or '', and optionally a folder to hold locked meanwhile)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import torch

Case = tuple


def _copy(run: str, root: Path, name: str) -> Path:
    return Path(shutil.copytree(run, root / "runs_copies" / name, ignore=shutil.ignore_patterns("train.lock")))


def run_cases(root: Path, runs: dict[str, str], folders: dict[str, str], base: list[str], bomb: bytes) -> list[Case]:
    """`base`: a tiny training's argv without --out; `bomb`: a PNG header over a run's pixel limit."""
    run, p2p = runs["dcgan"], runs["pix2pix"]
    out: list[Case] = []
    claimed = root / "claimed"
    claimed.mkdir()
    out.append(("--out a folder another process is starting in", [*base, "--out", str(claimed)], "refuse", "",
                claimed))  # fmt: skip
    no_latest = _copy(run, root, "no_latest")
    (no_latest / "checkpoints" / "latest.pt").rename(no_latest / "put-away.pt")
    cut = _copy(run, root, "cut_line")
    with (cut / "metrics.jsonl").open("a") as f:
        f.write('{"step": 9, "d_lo')
    out += [
        ("--resume without latest.pt", ["train", "--resume", str(no_latest), "--steps", "2", "--quiet"], "accept", ""),
        ("--resume after a cut metrics line", ["train", "--resume", str(cut), "--steps", "2", "--quiet"], "accept", ""),
        ("--resume --checkpoint missing", ["train", "--resume", run, "--checkpoint", "step_99"], "refuse", run),
        ("--resume --steps below the run's step", ["train", "--resume", str(no_latest), "--steps", "1"], "refuse", ""),
        ("--checkpoint without --resume", [*base, "--out", str(root / "n1"), "--checkpoint", "step_1"], "refuse", ""),
    ]
    inside = {
        "sample --grid into the run": ["sample", run, "--out", str(root / "i1"), "--grid", f"{run}/samples/x.png"],
        "sample --out into the run": ["sample", run, "--out", f"{run}/samples"],
        "evaluate --out into the run": ["evaluate", run, "--out", f"{run}/samples/e.json"],
        "report --out into the run": ["report", run, "--out", f"{run}/r2.html"],
        "export --out into the run": ["export", run, "--out", f"{run}/g.pt", "--format", "torchscript"],
        "translate --output into the run": ["translate", p2p, "--input", folders["grey"], "--output", f"{p2p}/t"],
        "evaluate --out an existing folder": ["evaluate", run, "--out", str(root), "--images", "20"],
    }
    out += [(name, argv, "refuse", p2p if "translate" in name else run) for name, argv in inside.items()]
    bombs = root / "bombs"
    bombs.mkdir()
    for i in range(12):
        shutil.copy(next(Path(folders["grey"]).glob("good*.png")), bombs / f"good{i}.png")
    (bombs / "bomb.png").write_bytes(bomb)
    out += [
        ("folder with a bomb under Pillow's limit", [*base, "--data", str(bombs), "--out", str(root / "b1")],
         "accept", ""),
        ("folder with a bomb under Pillow's limit, strict",
         [*base, "--data", str(bombs), "--out", str(root / "b2"), "--set", "data.bad_images=strict"], "refuse", ""),
        ("translate a bomb under Pillow's limit", ["translate", p2p, "--input", str(bombs / "bomb.png"), "--output",
                                                   str(root / "b3")], "refuse", p2p),
        ("sample --n a trillion", ["sample", run, "--n", str(10**12), "--out", str(root / "s1")], "refuse", run),
        ("sample --grid of 2000", ["sample", run, "--n", "2000", "--out", str(root / "s2"), "--grid",
                                   str(root / "g.png")], "refuse", run),
        ("evaluate --images a billion", ["evaluate", run, "--images", str(10**9)], "refuse", run),
        ("export --batch a billion", ["export", run, "--out", str(root / "big.pt"), "--format", "torchscript",
                                      "--batch", str(10**9)], "accept", ""),
    ]  # fmt: skip
    out += _crafted(root, run)
    out += _values(root, base)
    return out


def _crafted(root: Path, run: str) -> list[Case]:
    """Run folders edited by hand or crafted."""
    out: list[Case] = []
    odd = _copy(run, root, "odd_lines")
    with (odd / "metrics.jsonl").open("ab") as f:
        f.write(json.dumps({"step": 1, "g_$\\x$": 1.0, "d_loss": "high"}).encode() + b'\n{"d_loss": 1}\n[1]\n')
    with (odd / "events.jsonl").open("ab") as f:
        f.write(b'{"step": 1, "kind": "$\\\\x$"}\n[2]\n\xff\xfe\n{"kind": [1]}\n')
    (odd / "eval_own.json").write_text("[" * 100_000 + "]" * 100_000)
    secret = root / "secret.txt"
    secret.write_text("TOKEN")
    (odd / "command.txt").unlink()
    (odd / "command.txt").symlink_to(secret)
    no_metrics = _copy(run, root, "no_metrics")
    (no_metrics / "metrics.jsonl").unlink()
    listed = _copy(run, root, "weights_list")
    state = torch.load(listed / "checkpoints" / "latest.pt", weights_only=True)
    torch.save(state | {"g": [1, 2]}, listed / "checkpoints" / "latest.pt")
    own = _copy(run, root, "own_list")
    (own / "features").mkdir(exist_ok=True)
    torch.save([1, 2], own / "features" / "own.pt")
    out += [
        ("report of crafted metrics, events and links", ["report", str(odd), "--out", str(root / "o.html")],
         "accept", ""),
        ("health of crafted metrics and events", ["health", str(odd)], "accept", ""),
        ("--resume of crafted metrics and events", ["train", "--resume", str(odd), "--steps", "2", "--quiet"],
         "accept", ""),
        ("health with metrics.jsonl deleted", ["health", str(no_metrics)], "accept", ""),
        ("sample a checkpoint whose weights are a list", ["sample", str(listed), "--out", str(root / "s3")],
         "refuse", str(listed)),
        ("evaluate with features/own.pt a list", ["evaluate", str(own), "--images", "20"], "refuse", str(own)),
    ]  # fmt: skip
    return out


def _values(root: Path, base: list[str]) -> list[Case]:
    """Values no rule checked before, seeds, odd config files."""
    fresh = [*base, "--out", str(root / "v")]
    bad = {"train.ema": "-1", "train.ema_rampup": "-0.5", "health.warmup": "-1", "health.diversity_samples": "-1",
           "data.num_workers": "-5", "train.replay_prob": "1.5", "train.d_steps": "100000", "data.max_pixels": "-1",
           "health.collapse_below": "2", "loss.instance_noise_steps": "-3", "train.dist_timeout": "0",
           "eval.images": "100000000"}  # fmt: skip
    out: list[Case] = [(f"--set {k}={v}", [*fresh, "--set", f"{k}={v}"], "refuse", "") for k, v in bad.items()]
    out += [(f"--seed {s}", [*fresh, "--seed", s], "refuse", "") for s in ("-1", str(2**64))]
    out.append(("--set data.val_name on a dcgan (warned)", [*base, "--out", str(root / "v2"), "--set",
                "data.val_name=elsewhere"], "accept", ""))  # fmt: skip
    config = root / "configs_more"
    config.mkdir()
    files = {"deep": '{"train": ' * 100_000 + "1" + "}" * 100_000, "future": '{"version": 3}',
             "twice": '{"train": {"steps": 1, "steps": 2}}', "legacy_task": '{"task": "paired"}',
             "seed002_both": '{"train_data": "shapes", "steps": 3, "epochs": 2}'}  # fmt: skip
    for name, text in files.items():
        (config / f"{name}.json").write_text(text)
        out.append((f"config file {name}", ["train", str(config / f"{name}.json"), "--out", str(root / "v3")],
                    "refuse", ""))  # fmt: skip
    models = config / "model_configs.json"
    models.write_text('{"generator": {"padding": false, "n_levels": 4}}')
    out.append(("--model-configs with --set that together fit",
                ["train", "unet-restore", "--model-configs", str(models), "--image-size", "124", "--steps", "1",
                 "--batch-size", "2", "--quiet", "--set", "model.n_channels=16", "--set", "model.d_width=4",
                 "--out", str(root / "v4")], "accept", ""))  # fmt: skip
    return out
