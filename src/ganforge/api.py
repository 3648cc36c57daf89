"""The Python API: one function per command, what the CLI calls and what a notebook calls.

import ganforge
run = ganforge.train("dcgan-mnist", data="digits", steps=1500, out="runs/digits")
g = ganforge.load(run.dir)
images = g.sample(16, seed=0)          # (16, 1, 28, 28) in [-1, 1]
g.to_pil(images)[0].save("digit.png")
results, path = ganforge.evaluate(run.dir)

Each function checks its arguments and every output path before any work, and raises UserError (one line
that names the argument and the fix) on bad input.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from .config import MAX_EVAL_IMAGES, Config, apply_overrides, load_config, parse_override, preset_names, preset_summary
from .config.flags import FLAG_OF, KEY_OF, TRAIN_FLAGS
from .config.seed002 import seed002_settings
from .data.packed import read_manifest
from .data.paired import MissingSplit
from .data.prepare import prepare as pack
from .errors import UserError
from .inference.export import export_generator
from .inference.files import translate_files, walk_strip, write_samples, write_walk
from .inference.generator import Generator, load
from .jsonio import write_json
from .metrics.generated import Evaluator
from .models import build_models
from .report.grid import save_grid
from .report.health import health_report
from .report.html import write_report
from .report.summary import network_summary
from .runs.layout import LATEST, RunLayout, closest_pairs_path
from .runs.outputs import check_folder, check_output_file, check_outputs, run_files
from .runs.run import Run, open_run
from .train.evaluation import TRAINING_PAIRS
from .train.launch import resume_run, start_run

__all__ = ["Generator", "evaluate", "export", "health", "info", "load", "presets", "report", "resolve_config"]
__all__ += ["prepare", "sample", "train", "translate"]


def resolve_config(
    config: str | Path | dict | Config | None = "dcgan-mnist",
    *,
    model_configs: str | Path | None = None,
    overrides: dict[str, Any] | list[str] | None = None,
    settings: dict[str, Any] | None = None,
    **options: Any,
) -> Config:
    """A preset, file or dict, with the train command's options applied on top, then `key=value` overrides.

    `options` are the train flags that set a config key, by their names (config/flags.py: data, image_size,
    steps, epochs, minutes, batch_size, device, seed, degrade, stop_on, eval_every, best_metric, eval_features,
    precision, compile, cuda_graphs, logger); `settings` are further config keys by name; `model_configs`
    is a seed-002 model_configs.json (architecture and loss weights) applied to the config.
    """
    unknown = [name for name in options if name not in KEY_OF]
    if unknown:
        raise UserError(f"unknown option {unknown[0]!r}; options: {', '.join(KEY_OF)}")
    if options.get("steps") is not None and options.get("epochs") is not None:
        raise UserError("give --steps or --epochs, not both")
    cfg = load_config(config)
    from_file: dict[str, Any] = {}
    file_origins: dict[str, str] = {}
    if model_configs is not None:
        if cfg.model.family != "unet":
            raise UserError(
                f"--model-configs is seed 002's file for the unet family; this config's family is "
                f"{cfg.model.family}: drop --model-configs or start from unet-restore"
            )
        from_file, file_origins = seed002_settings(cfg, None, model_configs)
    given = {KEY_OF[name]: value for name, value in options.items() if value is not None}
    if not given.get("data.degrade"):  # an empty --degrade keeps the config's own
        given.pop("data.degrade", None)
    if "data.name" in given:
        given["data.name"] = str(given["data.name"])
    if "data.degrade" in given:
        degrade = given["data.degrade"]
        given["data.degrade"] = ",".join([degrade] if isinstance(degrade, str) else degrade)
    if "train.steps" in given:
        given.setdefault("train.epochs", 0)  # the steps given decide the length
    items: dict[str, Any] = {**given, **{k: v for k, v in (settings or {}).items() if v is not None}}
    origins = {key: FLAG_OF.get(key, "--set") for key in items}
    items, origins = {**from_file, **items}, {**file_origins, **origins}  # the command line's win
    set_keys = dict(parse_override(o) for o in overrides) if isinstance(overrides, list) else dict(overrides or {})
    items.update(set_keys)
    for key in set_keys:
        origins.pop(key, None)
    return apply_overrides(cfg, items, origins)  # in one call: a new model.family is set before the keys it brings


def train(
    config: str | Path | dict | Config | None = None,
    *,
    out: str | Path | None = None,
    resume: str | Path | None = None,
    quiet: bool = False,
    command: str | None = None,
    checkpoint: str | None = None,
    **options: Any,
) -> Run:
    """Train a GAN from `config` (a preset name, default dcgan-mnist; a config file, dict or Config) and
    return its run; `options` are those of `resolve_config`.

    With `resume=RUN_DIR` the run goes on from its newest whole checkpoint with its own config (or, with
    `checkpoint`, rolls back to that one: runs/rollback.py); only `steps` or `epochs` (to raise the total),
    `minutes` (to raise the time budget) and `stop_on` may be given with it. `command`, the command line that
    asked for the run, is added to RUN_DIR/command.txt (default: the Python call).
    """
    if options.get("steps") is not None and options.get("epochs") is not None:
        raise UserError("give --steps or --epochs, not both")
    for name in ("steps", "epochs"):
        value = options.get(name)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
            raise UserError(f"--{name} {value}: give a positive number")
    if command is None:
        given = {"out": out, "resume": resume, "checkpoint": checkpoint, **options}
        shown = {k: str(v) if isinstance(v, Path) else v for k, v in given.items() if v is not None}
        args = ([repr(config or "dcgan-mnist")] if resume is None else []) + [f"{k}={v!r}" for k, v in shown.items()]
        command = f"ganforge.train({', '.join(args)})"
    if resume is not None:
        given = {name for name, value in options.items() if value not in (None, [], {})}
        given |= {"set"} if "overrides" in given else set()
        given |= {"out"} if out is not None else set()
        fixed = (["the config"] if config is not None else []) + [
            f.flag for f in TRAIN_FLAGS if f.name in given and not f.on_resume
        ]
        fixed += sorted(name for name in given - {f.name for f in TRAIN_FLAGS} - {"overrides"})  # e.g. settings
        if fixed:
            shown = ", ".join(fixed)
            raise UserError(
                f"--resume continues a run with its own config; drop {shown} (only --steps/--epochs, --minutes and "
                "--stop-on may change)"
            )
        changes = {
            f.key: options[f.name] for f in TRAIN_FLAGS if f.on_resume and f.key and options.get(f.name) is not None
        }
        if "train.steps" in changes:
            changes["train.epochs"] = 0
        return resume_run(Path(resume), changes, quiet, command, checkpoint)
    if checkpoint is not None:
        raise UserError("--checkpoint chooses where a resumed run goes on from; give it with --resume RUN_DIR")
    cfg = resolve_config("dcgan-mnist" if config is None else config, **options)
    return start_run(cfg, Path(out) if out is not None else None, quiet, command)


def sample(
    run_dir: str | Path,
    n: int,
    out: str | Path,
    *,
    grid: str | Path | None = None,
    seed: int = 0,
    device: str = "auto",
    checkpoint: str | None = None,
    label: str | int | list[str | int] | None = None,
    truncation: float = 1.0,
    walk: int = 0,
) -> Path | None:
    """`n` PNGs from the run's generator in the folder `out` (and one `grid` image of them); returns the
    grid's path. A conditional run: `label` (a class number or name, a list of them, or "all") gives n
    images of each. `truncation` < 1 draws the noise nearer its mean. `walk` > 0: instead, that many frames
    of a latent walk written to the image file `out` (.gif: animated; else one strip); returns it."""
    labels = None if label is None else [str(x) for x in (label if isinstance(label, list) else [label])]
    if walk:
        single = labels[0] if labels and len(labels) == 1 else None
        if labels and single is None:
            raise UserError("a latent walk shows one class: give one --label with --walk")
        return write_walk(run_dir, walk, Path(out), seed, single, truncation, device, checkpoint)
    return write_samples(
        run_dir, n, Path(out), Path(grid) if grid else None, seed, device, checkpoint, labels, truncation
    )


def translate(
    run_dir: str | Path,
    input: str | Path,
    output: str | Path,
    *,
    fit: str = "resize",
    side_by_side: bool = False,
    device: str = "auto",
    checkpoint: str | None = None,
    direction: str = "AtoB",
) -> int:
    """Translate an image file, or every image under a folder, into the folder `output` with the run's
    generator (an unpaired run's, `direction` AtoB or BtoA); returns the number of images written."""
    path, _ = open_run(run_dir)
    check_folder(Path(output), "--output", path)
    g = load(path, device=device, checkpoint=checkpoint)
    return translate_files(g, Path(input), Path(output), mode=fit, side_by_side=side_by_side, direction=direction)


def evaluate(
    run_dir: str | Path,
    *,
    features: str | None = None,
    images: int | None = None,
    checkpoint: str | None = None,
    data: str | None = None,
    split: str | None = None,
    out: str | Path | None = None,
    device: str = "auto",
) -> tuple[dict[str, Any], Path]:
    """Score the run's generator and save the results (default RUN_DIR/eval_FEATURES.json; pairs:
    eval_SPLIT.json); returns them and the file. Noise to image: FID, KID, precision/recall,
    density/coverage on `images` generated images (5000); image to image: L1/PSNR/SSIM/FID on the held-out
    pairs of `split` (test) against the trivial baselines; unpaired, each direction (metrics/unpaired.py)."""
    path, cfg = open_run(run_dir)
    paired = cfg.task in ("paired", "unpaired", "upscale")  # scored on held-out images
    if not paired and (data or split):
        raise UserError("--data and --split choose held-out pairs of image-to-image runs; drop them for this run")
    if images is not None and not 1 <= images <= MAX_EVAL_IMAGES:
        raise UserError(
            f"--images must be from 1 to {MAX_EVAL_IMAGES:,} (the images are scored in batches), got {images}"
        )
    features, split = features or "own", split or "test"
    name = (split + ("" if features == "own" else f"_{features}")) if paired else features
    if checkpoint and Path(checkpoint).stem != "latest":
        name += f"_{Path(checkpoint).stem}"
    default = RunLayout(path).eval_results(name)
    target = Path(out) if out else default
    check_output_file(target, "--out", path, default)  # before the work, not after it
    pairs_image = closest_pairs_path(target)
    check_outputs([(target, Path("the results")), (pairs_image, Path("the closest pairs"))], run_files(path), "--out")
    g = load(path, device=device, checkpoint=checkpoint)
    evaluator = Evaluator(cfg, path, features, images or (10**9 if paired else 5000), g.device, split=split, data=data)
    try:
        results = evaluator(g) | {"extractor": evaluator.features, "step": g.step}
    except MissingSplit as e:
        raise UserError(f"{e}, or evaluate another with --split {' or '.join(e.present)}") from None
    if paired and evaluator.scores_training_pairs():
        results["warning"] = f"{TRAINING_PAIRS}: give held-out images with --data FOLDER"
    if evaluator.closest is not None:  # the generated images nearest a training image, above it
        generated, training = evaluator.closest
        save_grid(torch.cat([generated, training]), pairs_image, nrow=len(generated))
        results["memorisation"]["image"] = pairs_image.name
    return results, write_json(target, results)


def report(run_dir: str | Path, out: str | Path | None = None) -> Path:
    """One self-contained HTML page of the run (default RUN_DIR/report.html); returns its path."""
    path, cfg = open_run(run_dir)
    default = RunLayout(path).report
    target = Path(out) if out else default
    if target.is_dir():
        raise UserError(f"--out {target} is a folder; give a file name such as {target / 'report.html'}")
    check_output_file(target, "--out", path, default)
    check_outputs([(target, Path("the report"))], run_files(path), "--out")
    return write_report(path, target, walk=_walk(path, cfg))


def _walk(path: Path, cfg: Config) -> bytes | str | None:
    """The report's latent walk (PNG bytes), or why a noise-to-image run has none; None for translators."""
    if cfg.task != "unconditional":
        return None
    if not (RunLayout(path).checkpoints / LATEST).is_file():
        return "no checkpoint yet"
    try:
        return walk_strip(path)
    except UserError as e:  # a report of a broken run still shows what the run wrote
        return str(e)


def export(
    run_dir: str | Path,
    out: str | Path,
    *,
    format: str = "onnx",
    batch: str = "dynamic",
    ema: bool = False,
    checkpoint: str | None = None,
    direction: str | None = None,
) -> tuple[Path, tuple[int, ...]]:
    """The run's generator as ONNX or TorchScript in `out` (an unpaired run's: `direction` AtoB, the
    default, or BtoA); returns the file and an example input's shape."""
    path, _ = open_run(run_dir)
    check_output_file(Path(out), "--out", path)
    check_outputs([(Path(out), Path("the exported generator"))], run_files(path), "--out")
    return export_generator(path, format, Path(out), str(batch), ema, checkpoint, direction)


def prepare(src: str | Path, out: str | Path, image_size: int = 64, channels: int = 3, crop: str = "center",
            layout: str = "images", labels: str = "", max_images: int = 0, bad_images: str = "skip",
            quiet: bool = False) -> dict[str, Any]:  # fmt: skip
    """Pack the images of folder `src` once into the data set `out` (data/prepare.py), for `--data out`: decoded,
    screened, resized and cropped to `image_size`; `layout` images, paired or unpaired. An interrupted pack
    goes on where it stopped when called again. Returns the set's manifest (dataset.json)."""
    return read_manifest(pack(src, out, image_size, channels, crop, layout, labels, max_images, bad_images, quiet))


def health(run_dir: str | Path) -> dict[str, Any]:
    """A verdict on the run's training so far, with its events (also while it trains)."""
    return health_report(run_dir)


def info(target: str | Path) -> tuple[Config, dict[str, nn.Module], dict[str, dict[str, Any]]]:
    """The resolved config of a preset, config file or run folder, its networks, and their layer tables."""
    path = Path(target)
    cfg = load_config(RunLayout(path).config) if RunLayout(path).is_run() else load_config(str(target))
    g, d = build_models(cfg)
    nets = {"generator": g, "discriminator": d}
    return cfg, nets, {"generator": network_summary(g, cfg, "g"), "discriminator": network_summary(d, cfg, "d")}


def presets() -> dict[str, str]:
    """Every preset's name and its one-line summary."""
    return {name: preset_summary(name) for name in preset_names()}
