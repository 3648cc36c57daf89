"""The `ganforge` command: a thin layer over the Python API (argparse, the standard library's parser)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from .errors import TrainingStopped, UserError, one_line


def _add_train(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train",
        help="train a GAN from a preset or a config file",
        description="Train a GAN. Every option is also a config key (ganforge info PRESET).",
    )
    p.add_argument("config", nargs="?", default=None, help="preset name or CONFIG.json (default: dcgan-mnist)")
    p.add_argument("--data", help="built-in data set (digits, mnist, fashion-mnist) or a folder of images")
    p.add_argument("--image-size", type=int, help="image resolution (data.image_size)")
    p.add_argument(
        "--degrade",
        action="append",
        metavar="KIND=S",
        help="restoration: degrade clean images on the fly: noise=STD (of the [0, 1] range), blur=SIGMA, "
        "jpeg=QUALITY, downscale=FACTOR; repeatable or comma-separated (data.degrade)",
    )
    g = p.add_mutually_exclusive_group()
    g.add_argument("--steps", type=int, help="total optimisation steps (train.steps)")
    g.add_argument("--epochs", type=int, help="passes over the data instead of --steps (train.epochs)")
    p.add_argument("--batch-size", type=int, help="images per step (train.batch_size)")
    p.add_argument("--out", help="run directory (default: runs/PRESET-TIMESTAMP)")
    p.add_argument("--device", help="auto, cpu, cuda or cuda:N (train.device)")
    p.add_argument("--seed", type=int, help="random seed (train.seed)")
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override any config key, e.g. --set train.g_optim.lr=1e-4 (repeatable)",
    )
    p.add_argument(
        "--model-configs",
        metavar="FILE",
        help="a seed-002 model_configs.json: U-Net arguments and loss weights (see README)",
    )
    p.add_argument(
        "--stop-on",
        metavar="EVENTS",
        help="stop training at these health events, comma-separated, e.g. mode_collapse,d_wins "
        "(health.stop_on; nonfinite always stops)",
    )
    p.add_argument(
        "--eval-every",
        type=int,
        metavar="N",
        help="score the generator every N steps (FID, KID, precision/recall... or PSNR/SSIM for pairs), logged "
        "beside the losses, checkpoints/best.pt kept (eval.every)",
    )
    p.add_argument("--best-metric", help="the metric best.pt is chosen by, e.g. fid, coverage, psnr (eval.best_metric)")
    p.add_argument("--eval-features", help="own or inception: the features of the evaluation (eval.features)")
    p.add_argument("--precision", help="auto (bf16 in --cuda-graphs, else fp32), fp32, bf16, fp16 (train.precision)")
    p.add_argument("--compile", action="store_true", default=None, help="torch.compile the networks (train.compile)")
    p.add_argument(
        "--cuda-graphs",
        action="store_true",
        default=None,
        help="replay each step as one CUDA graph (train.cuda_graphs)",
    )
    p.add_argument("--logger", help="files (default) or tensorboard: also write RUN_DIR/tensorboard/ (train.logger)")
    p.add_argument("--resume", metavar="RUN_DIR", help="continue a run from its newest whole checkpoint")
    p.add_argument(
        "--checkpoint",
        metavar="NAME",
        help="with --resume: roll back to this checkpoint of the run (step_N, best); what came after it is moved "
        "to RUN_DIR/rolled_back/",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar (for logs)")


def cmd_train(a: argparse.Namespace) -> int:
    import shlex

    from .api import train

    command = shlex.join(["ganforge", *sys.argv[1:]]) if a.argv is None else shlex.join(["ganforge", *a.argv])
    for flag, value in (("--steps", a.steps), ("--epochs", a.epochs)):
        if value is not None and value < 1:
            raise UserError(f"{flag} {value}: give a positive number")
    flags = {"eval.every": a.eval_every, "eval.best_metric": a.best_metric, "eval.features": a.eval_features}
    flags |= {"train.logger": a.logger, "train.precision": a.precision, "train.compile": a.compile}
    flags |= {"train.cuda_graphs": a.cuda_graphs}
    if a.resume:
        fixed = ("config", "data", "image_size", "batch_size", "out", "device", "seed", "degrade",
                 "model_configs", "eval_every", "best_metric", "eval_features", "logger", "precision", "compile",
                 "cuda_graphs")  # fmt: skip
        ignored = [f for f in fixed if getattr(a, f) is not None] + (["set"] if a.overrides else [])
        if ignored:
            raise UserError(
                f"--resume continues a run with its own config; drop {', '.join(ignored)} "
                "(only --steps/--epochs and --stop-on may change)"
            )
        run = train(resume=a.resume, steps=a.steps, epochs=a.epochs, stop_on=a.stop_on, quiet=a.quiet, command=command,
                    checkpoint=a.checkpoint)  # fmt: skip
    else:
        run = train(
            a.config or "dcgan-mnist",
            data=a.data,
            image_size=a.image_size,
            steps=a.steps,
            epochs=a.epochs,
            batch_size=a.batch_size,
            out=a.out,
            device=a.device,
            seed=a.seed,
            degrade=a.degrade,
            model_configs=a.model_configs,
            stop_on=a.stop_on,
            overrides=a.overrides,
            settings=flags,
            quiet=a.quiet,
            command=command,
            checkpoint=a.checkpoint,
        )
    print(f"samples:    {run.latest_grid()}")
    print(f"loss plot:  {run.loss_plot}")
    print(f"checkpoint: {run.checkpoint}")
    return 0


def cmd_sample(a: argparse.Namespace) -> int:
    from .sampling import write_samples

    grid = write_samples(a.run_dir, a.n, Path(a.out), Path(a.grid) if a.grid else None, a.seed, a.device, a.checkpoint)
    print(f"wrote {a.n} images to {a.out}")
    if grid is not None:
        print(f"grid: {grid}")
    return 0


def cmd_translate(a: argparse.Namespace) -> int:
    from .api import load
    from .evaluate import translate_files
    from .outputs import check_folder
    from .train.run_dir import open_run

    run_dir, _ = open_run(a.run_dir)
    check_folder(Path(a.output), "--output", run_dir)
    g = load(run_dir, device=a.device, checkpoint=a.checkpoint)
    n = translate_files(g, Path(a.input), Path(a.output), mode=a.fit, side_by_side=a.side_by_side)
    print(f"wrote {n} images to {a.output}")
    return 0


def cmd_export(a: argparse.Namespace) -> int:
    from .export import export_generator
    from .outputs import check_output_file, check_outputs, run_files
    from .train.run_dir import open_run

    run_dir, _ = open_run(a.run_dir)
    check_output_file(Path(a.out), "--out", run_dir)
    check_outputs([(Path(a.out), Path("the exported generator"))], run_files(run_dir), "--out")
    out, shape = export_generator(run_dir, a.format, Path(a.out), a.batch, a.ema, a.checkpoint)
    print(f"wrote {out} ({a.format}; example input shape {list(shape)}, batch {a.batch})")
    return 0


def cmd_evaluate(a: argparse.Namespace) -> int:
    from .api import load
    from .config import MAX_EVAL_IMAGES
    from .data.paired import MissingSplit
    from .evaluate import format_table, save_results
    from .jsonio import dumps
    from .metrics.generated import Evaluator
    from .outputs import check_output_file, check_outputs, run_files
    from .train.evaluation import TRAINING_PAIRS
    from .train.run_dir import open_run

    run_dir, cfg = open_run(a.run_dir)
    paired = cfg.task == "paired"
    if not paired and (a.data or a.split):
        raise UserError("--data and --split choose held-out pairs of image-to-image runs; drop them for this run")
    if a.images is not None and not 1 <= a.images <= MAX_EVAL_IMAGES:
        raise UserError(
            f"--images must be from 1 to {MAX_EVAL_IMAGES:,} (the images are scored in batches), got {a.images}"
        )
    features, split = a.features or "own", a.split or "test"
    name = (f"{split}" + ("" if features == "own" else f"_{features}")) if paired else features
    if a.checkpoint and Path(a.checkpoint).stem != "latest":
        name += f"_{Path(a.checkpoint).stem}"
    default = run_dir / f"eval_{name}.json"
    out = Path(a.out) if a.out else default
    check_output_file(out, "--out", run_dir, default)  # before the work, not after it
    check_outputs([(out, Path("the results"))], run_files(run_dir), "--out")
    g = load(run_dir, device=a.device, checkpoint=a.checkpoint)
    images = a.images or (10**9 if paired else 5000)
    evaluator = Evaluator(cfg, run_dir, features, images, g.device, split=split, data=a.data)
    try:
        results = evaluator(g) | {"extractor": features, "step": g.step}
    except MissingSplit as e:
        raise UserError(f"{e}, or evaluate another with --split {' or '.join(e.present)}") from None
    if paired and evaluator.scores_training_pairs():
        results["warning"] = f"{TRAINING_PAIRS}: give held-out pairs with --data FOLDER"
        print(f"ganforge: warning: {results['warning']}", file=sys.stderr)
    save_results(results, out)
    print(dumps(results, indent=2) if a.json else format_table(results))
    if not a.json:
        print(f"saved {out}")
    return 0


def cmd_report(a: argparse.Namespace) -> int:
    from .outputs import check_output_file, check_outputs, run_files
    from .report.html import write_report
    from .train.run_dir import open_run

    run_dir, _ = open_run(a.run_dir)
    default = run_dir / "report.html"
    out = Path(a.out) if a.out else default
    if out.is_dir():
        raise UserError(f"--out {out} is a folder; give a file name such as {out / 'report.html'}")
    check_output_file(out, "--out", run_dir, default)
    check_outputs([(out, Path("the report"))], run_files(run_dir), "--out")
    print(f"report: {write_report(run_dir, out)}")
    return 0


def cmd_health(a: argparse.Namespace) -> int:
    from .jsonio import dumps
    from .report.health import format_report, health_report

    report = health_report(a.run_dir)
    print(dumps(report, indent=2) if a.json else format_report(report))
    return 0


def cmd_presets(a: argparse.Namespace) -> int:
    from .config import preset_names, preset_summary

    names = preset_names()
    width = max(map(len, names))
    for name in names:
        print(f"{name:<{width}}  {preset_summary(name)}")
    return 0


def cmd_info(a: argparse.Namespace) -> int:
    from .config import load_config
    from .models import build_models
    from .report.summary import network_summary
    from .train.run_dir import is_run_dir

    path = Path(a.target)
    cfg = load_config(path / "config.json") if path.is_dir() and is_run_dir(path) else load_config(a.target)
    g, d = build_models(cfg)
    nets = {"generator": network_summary(g, cfg, "g"), "discriminator": network_summary(d, cfg, "d")}
    if a.json:
        print(json.dumps({"config": cfg.to_dict(), "networks": nets}, indent=2))
        return 0
    print(json.dumps(cfg.to_dict(), indent=2))
    for name, s in nets.items():
        print(f"\n{name}: {type(g if name == 'generator' else d).__name__}")
        print(f"  {'layer':<28}{'type':<20}{'output shape':<22}{'params':>12}")
        for row in s["layers"]:
            shape = "x".join(map(str, row["output_shape"]))
            print(f"  {row['name']:<28}{row['type']:<20}{shape:<22}{row['params']:>12,}")
        print(
            f"  parameters: {s['parameters']:,}   with BatchNorm statistics (as Keras counts): "
            f"{s['parameters_with_bn_stats']:,}"
        )
    return 0


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = argparse.ArgumentParser(prog="ganforge", description="Train, watch, evaluate and use GANs for images.")
    parser.add_argument("--version", action="version", version=f"ganforge {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_train(sub)

    p = sub.add_parser("sample", help="write images from a trained generator")
    p.add_argument("run_dir")
    p.add_argument("--n", type=int, default=64, help="number of images (default 64)")
    p.add_argument("--out", required=True, help="folder for the PNG files")
    p.add_argument("--grid", help="also write them as one grid image to this file")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto")
    p.add_argument("--checkpoint", help="latest (default), best, step_NNNNNNN, or a checkpoint file")

    p = sub.add_parser("translate", help="translate images with a trained image-to-image generator")
    p.add_argument("run_dir")
    p.add_argument("--input", required=True, help="an image file or a folder of images (searched recursively)")
    p.add_argument("--output", required=True, help="folder for the outputs; each keeps its input's name (as .png)")
    p.add_argument(
        "--fit",
        choices=["resize", "pad"],
        default="resize",
        help="resize: scale to the training size and back (default); pad: run at the input's own "
        "resolution, reflect-padded to a multiple of the training size",
    )
    p.add_argument("--side-by-side", action="store_true", help="write input | output side by side")
    p.add_argument("--device", default="auto")
    p.add_argument("--checkpoint", help="latest (default), best, step_NNNNNNN, or a checkpoint file")

    p = sub.add_parser(
        "evaluate",
        help="score a trained generator: FID, KID, precision/recall, density/coverage (noise to image); "
        "L1, PSNR, SSIM and FID against baselines (image to image)",
    )
    p.add_argument("run_dir")
    p.add_argument(
        "--features",
        choices=["own", "inception"],
        help="own: a small network trained on the run's real data, saved with the run (default; offline; "
        "compares runs on one data set only); inception: the FID InceptionV3 papers use (downloaded once)",
    )
    p.add_argument(
        "--images", type=int, help="generated images scored (default 5000); image to image: pairs (default all)"
    )
    p.add_argument("--checkpoint", help="latest (default), best, step_NNNNNNN, or a checkpoint file")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    p.add_argument("--data", help="image to image: data set or folder (default: the run's own)")
    p.add_argument("--split", choices=["train", "val", "test"], help="image to image: the split (default test)")
    p.add_argument(
        "--out",
        help="JSON file (default: RUN_DIR/eval_FEATURES.json; pairs: eval_SPLIT.json, eval_SPLIT_inception.json; "
        "_CHECKPOINT added for another checkpoint than latest)",
    )
    p.add_argument("--device", default="auto")

    p = sub.add_parser("report", help="one self-contained HTML page of a run: curves, events, samples, metrics")
    p.add_argument("run_dir")
    p.add_argument("--out", help="HTML file (default: RUN_DIR/report.html)")

    p = sub.add_parser("health", help="a verdict on a run's training (also while it trains), with its events")
    p.add_argument("run_dir")
    p.add_argument("--json", action="store_true", help="machine-readable output")

    p = sub.add_parser("export", help="the generator as ONNX or TorchScript, for inference without ganforge")
    p.add_argument("run_dir")
    p.add_argument("--format", default="onnx", help="onnx (default) or torchscript")
    p.add_argument("--out", required=True, help="the file to write, e.g. generator.onnx")
    p.add_argument("--batch", default="dynamic", help="dynamic (default) or a fixed batch size")
    p.add_argument("--ema", action="store_true", help="require the EMA weights (a train.ema run's default)")
    p.add_argument("--checkpoint", help="latest (default), best, step_N or a file")

    sub.add_parser("presets", help="list the presets")

    p = sub.add_parser("info", help="the resolved config and the networks of a preset, config or run")
    p.add_argument("target", help="preset name, CONFIG.json or RUN_DIR")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    return parser


COMMANDS = {
    "train": cmd_train,
    "sample": cmd_sample,
    "translate": cmd_translate,
    "evaluate": cmd_evaluate,
    "report": cmd_report,
    "health": cmd_health,
    "export": cmd_export,
    "presets": cmd_presets,
    "info": cmd_info,
}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    args.argv = argv
    try:
        return COMMANDS[args.command](args)
    except BrokenPipeError:  # `ganforge presets | head -1`: the reader went away, nothing to report
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except UserError as e:
        print(f"ganforge: error: {one_line(e)}", file=sys.stderr)
        return 2
    except TrainingStopped as e:
        print(f"ganforge: stopped: {one_line(e)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt as e:
        print(f"ganforge: {e}" if str(e) else "ganforge: interrupted", file=sys.stderr)
        return 130
