"""The `ganforge` command: it parses the command line (argparse, the standard library's parser), calls the
Python API's function of the command (api.py) and prints what it returns; nothing else."""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys

from . import __version__, api
from .config.flags import TRAIN_FLAGS
from .config.vocab import DIRECTIONS
from .data.paired import SPLITS
from .errors import TrainingStopped, UserError, one_line
from .inference.files import FIT_MODES
from .jsonio import dumps
from .registry import names_for
from .report.health import format_report
from .report.summary import format_table


def _add_train(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train",
        help="train a GAN from a preset or a config file",
        description="Train a GAN. Every option is also a config key (ganforge info PRESET).",
    )
    p.add_argument("config", nargs="?", default=None, help="preset name or CONFIG.json (default: dcgan-mnist)")
    lengths = p.add_mutually_exclusive_group()
    for f in TRAIN_FLAGS:  # one table (config/flags.py) for the parser, the API and the errors
        where = lengths if f.length else p
        text = f"{f.help} ({f.key})" if f.key else f.help
        if f.switch:
            where.add_argument(f.flag, dest=f.name, action="store_true", default=None, help=text)
        else:
            kind = {"type": f.type} if f.type is not str else {}
            action = {"action": "append"} if f.repeat else {}
            where.add_argument(f.flag, dest=f.name, metavar=f.metavar, help=text, **kind, **action)


def cmd_train(a: argparse.Namespace) -> int:
    command = shlex.join(["ganforge", *(sys.argv[1:] if a.argv is None else a.argv)])
    options = {f.name: getattr(a, f.name) for f in TRAIN_FLAGS if f.key}
    run = api.train(
        a.config, out=a.out, resume=a.resume, quiet=bool(a.quiet), command=command, checkpoint=a.checkpoint,
        model_configs=a.model_configs, overrides=a.set, **options,
    )  # fmt: skip
    if not run.main:  # under torchrun every process returns here; the first one says where the run is
        return 0
    print(f"samples:    {run.latest_grid()}")
    print(f"loss plot:  {run.loss_plot}")
    print(f"checkpoint: {run.checkpoint}")
    return 0


def cmd_sample(a: argparse.Namespace) -> int:
    grid = api.sample(
        a.run_dir, a.n, a.out, grid=a.grid, seed=a.seed, device=a.device, checkpoint=a.checkpoint, label=a.label,
        truncation=a.truncation, walk=a.walk,
    )  # fmt: skip
    if a.walk:
        print(f"wrote a latent walk of {a.walk} frames to {grid}")
        return 0
    each = (
        f" of each of {len(a.label)} classes"
        if a.label and "all" not in a.label
        else " of each class"
        if a.label
        else ""
    )
    print(f"wrote {a.n} images{each} to {a.out}")
    if grid is not None:
        print(f"grid: {grid}")
    return 0


def cmd_translate(a: argparse.Namespace) -> int:
    n = api.translate(
        a.run_dir, a.input, a.output, fit=a.fit, side_by_side=a.side_by_side, device=a.device,
        checkpoint=a.checkpoint, direction=a.direction,
    )  # fmt: skip
    print(f"wrote {n} images to {a.output}")
    return 0


def cmd_export(a: argparse.Namespace) -> int:
    out, shape = api.export(
        a.run_dir, a.out, format=a.format, batch=a.batch, ema=a.ema, checkpoint=a.checkpoint, direction=a.direction
    )
    print(f"wrote {out} ({a.format}; example input shape {list(shape)}, batch {a.batch})")
    return 0


def cmd_evaluate(a: argparse.Namespace) -> int:
    results, path = api.evaluate(
        a.run_dir, features=a.features, images=a.images, checkpoint=a.checkpoint, data=a.data, split=a.split,
        out=a.out, device=a.device,
    )  # fmt: skip
    if "warning" in results:
        print(f"ganforge: warning: {results['warning']}", file=sys.stderr)
    print(dumps(results, indent=2) if a.json else format_table(results))
    if not a.json:
        print(f"saved {path}")
    return 0


def cmd_prepare(a: argparse.Namespace) -> int:
    m = api.prepare(
        a.src, a.out, image_size=a.image_size, channels=a.channels, crop=a.crop, layout=a.layout,
        labels=a.labels or "", max_images=a.max_images, bad_images=a.bad_images, quiet=a.quiet,
    )  # fmt: skip
    counts = ", ".join(
        f"{s} {'/'.join(str(e['count']) for k, e in p.items() if k != 'labels')}" for s, p in m["splits"].items()
    )
    left = f"; left out {m['skipped_count']} unusable files (dataset.json lists them)" if m["skipped_count"] else ""
    print(f"packed {m['layout']} ({counts}) at {m['image_size']} px into {a.out}{left}")
    print(f"train with: ganforge train PRESET --data {a.out} --image-size {m['image_size']}")
    return 0


def cmd_report(a: argparse.Namespace) -> int:
    print(f"report: {api.report(a.run_dir, a.out)}")
    return 0


def cmd_health(a: argparse.Namespace) -> int:
    report = api.health(a.run_dir)
    print(dumps(report, indent=2) if a.json else format_report(report))
    return 0


def cmd_presets(a: argparse.Namespace) -> int:
    found = api.presets()
    width = max(map(len, found))
    for name, summary in found.items():
        print(f"{name:<{width}}  {summary}")
    return 0


def cmd_info(a: argparse.Namespace) -> int:
    cfg, nets, tables = api.info(a.target)
    if a.json:
        print(json.dumps({"config": cfg.to_dict(), "networks": tables}, indent=2))
        return 0
    print(json.dumps(cfg.to_dict(), indent=2))
    for name, s in tables.items():
        print(f"\n{name}: {type(nets[name]).__name__}")
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
    parser = argparse.ArgumentParser(prog="ganforge", description="Train, watch, evaluate and use GANs for images.")
    parser.add_argument("--version", action="version", version=f"ganforge {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_train(sub)

    p = sub.add_parser("sample", help="write images from a trained generator")
    p.add_argument("run_dir")
    p.add_argument("--n", type=int, default=64, help="number of images (default 64)")
    p.add_argument("--out", required=True, help="folder for the PNG files (with --walk: a .gif or image file)")
    p.add_argument("--grid", help="also write them as one grid image to this file")
    p.add_argument(
        "--label", action="append", metavar="K",
        help="a conditional run: --n images of class K (a number or name; repeatable; all: every class)",
    )  # fmt: skip
    p.add_argument(
        "--truncation", type=float, default=1.0, metavar="PSI",
        help="draw the noise nearer its mean: 1 none (default), 0.7 a common choice",
    )  # fmt: skip
    p.add_argument(
        "--walk", type=int, default=0, metavar="FRAMES", help="write a latent walk of FRAMES frames to --out"
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto")
    p.add_argument("--checkpoint", help="latest (default), best, step_NNNNNNN, or a checkpoint file")

    p = sub.add_parser("translate", help="translate images with a trained image-to-image generator")
    p.add_argument("run_dir")
    p.add_argument("--input", required=True, help="an image file or a folder of images (searched recursively)")
    p.add_argument("--output", required=True, help="folder for the outputs; each keeps its input's name (as .png)")
    p.add_argument(
        "--fit",
        choices=FIT_MODES,
        default="resize",
        help="resize: scale to the training size and back (default); pad: run at the input's own "
        "resolution, reflect-padded to a multiple of the training size",
    )
    p.add_argument("--side-by-side", action="store_true", help="write input | output side by side")
    p.add_argument("--direction", default="AtoB", choices=DIRECTIONS, help="an unpaired (cyclegan) run: either way")
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
        choices=names_for("eval.features"),
        help="own: a small network trained on the run's real data, saved with the run (default; offline; "
        "compares runs on one data set only); inception: the FID InceptionV3 papers use (downloaded once)",
    )
    p.add_argument(
        "--images", type=int, help="generated images scored (default 5000); image to image: pairs (default all)"
    )
    p.add_argument("--checkpoint", help="latest (default), best, step_NNNNNNN, or a checkpoint file")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    p.add_argument("--data", help="image to image: data set or folder (default: the run's own)")
    p.add_argument("--split", choices=SPLITS, help="image to image: the split (default test)")
    p.add_argument(
        "--out",
        help="JSON file (default: RUN_DIR/eval_FEATURES.json; pairs: eval_SPLIT.json, eval_SPLIT_inception.json; "
        "_CHECKPOINT added for another checkpoint than latest)",
    )
    p.add_argument("--device", default="auto")

    p = sub.add_parser("prepare", help="pack an image folder once, for training at the speed of the device")
    p.add_argument("src", help="the folder of images (paired or unpaired layouts with --layout)")
    p.add_argument("--out", required=True, help="the packed data set to write (a new folder)")
    p.add_argument("--image-size", type=int, default=64, help="the training size, in pixels (default 64)")
    p.add_argument("--channels", type=int, default=3, help="1 (grey) or 3 (RGB, default)")
    p.add_argument("--crop", default="center", help="center (as training on a folder; default), pad, or none "
                   "(stretch)")  # fmt: skip
    p.add_argument("--layout", default="images", help="images (default), paired, or unpaired (data.md)")
    p.add_argument("--labels", help="class labels: from-folders, or a CSV file of rows 'file,label'")
    p.add_argument("--max-images", type=int, default=0, help="pack at most N images of each folder (0: all)")
    p.add_argument("--bad-images", default="skip", help="skip (leave unusable files out, default) or strict")
    p.add_argument("--quiet", action="store_true", help="no progress bar")

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
    p.add_argument("--direction", choices=DIRECTIONS, help="an unpaired (cyclegan) run: AtoB (default) or BtoA")
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
    "prepare": cmd_prepare,
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
