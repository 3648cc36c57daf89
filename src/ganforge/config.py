"""Every option of a run in one place: a tree of dataclasses, presets as JSON on top of the defaults.

A config is resolved in this order: the dataclass defaults, a preset (or a user's JSON file, which may
itself name a `preset` to start from), the CLI flags, then `--set key=value` overrides. The resolved
config is written to each run directory as `config.json`, which is again a valid config file.

The `model` section belongs to the model family: `model.family` picks a family (models/), and the family's
own options class (a subclass of `ModelConfig`) gives the section's other keys and checks them. Fields carry
their rules as metadata (`option(..., choices=..., positive=...)`); choices that a registry holds are read
from it, so a registered loss or family is a valid value at once.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import math
import types
import typing
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from .config_choices import (
    bad_image_policies,
    directions,
    extractor_names,
    family_names,
    gan_loss_names,
    metric_names,
    optimizer_names,
)
from .errors import UserError
from .presets import preset_dict, preset_names, preset_summary  # noqa: F401  (part of this module's face)

VERSION = 2


def option(
    default: Any,
    *,
    choices: Iterable[str] | Callable[[], Iterable[str]] | None = None,
    positive: bool = False,
    at_least: float | None = None,
    below: float | None = None,
):
    """A config field with its rules: `choices` (values, or a function giving a registry's names),
    `positive`, a range [`at_least`, `below`)."""
    return field(default=default, metadata={"choices": choices, "positive": positive, "range": (at_least, below)})


@dataclass
class ModelConfig:
    """The `model` section's common part; each family subclasses it with its own keys (models/)."""

    family: str = option("", choices=family_names)  # set by the family's registration (model_options)
    spectral_norm: bool = False  # spectral normalisation of D's convolutions and linear layers (Miyato et al.)

    def check(self, cfg: Config, origin: str) -> None:
        """Checks that involve other sections (image sizes, channels); a family overrides it."""


@dataclass
class DataConfig:
    name: str = "digits"  # built-in data set name or a folder path (paired: shapes, facades or a folder)
    image_size: int = option(64, positive=True)
    channels: int = 3  # channels of the generated images (1 gray, 3 RGB)
    in_channels: int = 3  # channels of the input images of paired tasks
    direction: str = option("auto", choices=directions)  # paired: AtoB, BtoA, or the data set's own (auto)
    jitter: bool = True  # paired: random resize-crop and mirror of the training pairs
    degrade: str = ""  # restoration: make inputs from clean images, e.g. "noise=0.1,blur=1" (data/degrade.py)
    val_name: str = ""  # held-out data for sample grids and evaluate (default: the val split of `name`)
    diffaugment: str = ""  # DiffAugment of D's inputs, reals and fakes alike: e.g. "color,translation,cutout"
    num_workers: int = -1  # data loading processes; -1 chooses (0 for in-memory data sets)
    # a folder's unreadable or too small files: left out and counted (skip), or the run stops (strict)
    bad_images: str = option("skip", choices=bad_image_policies)  # (data/screening.py)


@dataclass
class OptimConfig:
    name: str = option("adam", choices=optimizer_names)
    lr: float = option(2e-4, positive=True)
    beta1: float = option(0.5, at_least=0, below=1)  # adam
    beta2: float = option(0.999, at_least=0, below=1)  # adam
    rho: float = option(0.9, at_least=0, below=1)  # rmsprop's moving-average factor (Keras `rho`)
    eps: float = option(1e-7, positive=True)
    lr_decay: float = option(0.0, at_least=0)  # Keras `decay`: lr / (1 + lr_decay * step)
    clip_value: float = option(0.0, at_least=0)  # clip each gradient element to [-v, v] (Keras `clipvalue`); 0 = off


@dataclass
class LossConfig:
    gan: str = option("bce", choices=gan_loss_names)  # the adversarial loss (losses.py)
    gan_weight: float = option(1.0, at_least=0)
    l1: float = option(0.0, at_least=0)  # paired tasks: weight of L1(G(x), y); pix2pix uses 100
    ssim: float = option(0.0, at_least=0)  # weight of 1 - SSIM(G(x), y) (11x11 Gaussian window, sigma 1.5)
    gmsd: float = option(0.0, at_least=0)  # weight of GMSD(G(x), y) (gradient magnitude similarity deviation)
    tv: float = option(0.0, at_least=0)  # weight of the total variation of G(x)
    gp: float = option(10.0, at_least=0)  # wgan-gp: weight of the gradient penalty on interpolates (Gulrajani et al.)
    r1: float = option(
        0.0, at_least=0
    )  # gamma of the R1 penalty gamma/2 * E|grad D(real)|^2 (Mescheder et al.); 0 = off
    r2: float = option(0.0, at_least=0)  # gamma of the R2 penalty, the same on fakes
    reg_every: int = option(1, positive=True)  # R1/R2 every this many steps, as a lazy phase (StyleGAN2: 16)
    label_smoothing: float = option(0.0, at_least=0, below=1)  # one-sided: reals' target 1 - s (bce, lsgan)
    instance_noise: float = option(
        0.0, at_least=0
    )  # std of Gaussian noise on D's inputs (of the [-1, 1] range), falling to 0
    instance_noise_steps: int = 0  # steps over which it falls linearly to 0; 0 = the whole run


@dataclass
class TrainConfig:
    steps: int = 1500  # total generator steps; used when epochs is 0
    epochs: int = 0  # if > 0, train this many passes over the data instead of `steps`
    batch_size: int = option(32, positive=True)  # the global batch, shared among torchrun's processes
    d_steps: int = 0  # discriminator steps per generator step, each on a fresh batch; 0: the loss's (wgan-gp 5, else 1)
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    g_optim: OptimConfig = field(default_factory=OptimConfig)
    d_optim: OptimConfig = field(default_factory=OptimConfig)
    log_every: int = option(10, positive=True)  # steps between metric lines
    sample_every: int = option(250, positive=True)  # steps between sample grids
    checkpoint_every: int = option(500, positive=True)  # steps between kept checkpoints (and latest.pt)
    grid_size: int = option(8, positive=True)  # the sample grid is grid_size x grid_size images
    ema: float = 0.0  # half-life of G's moving average, in images (StyleGAN2-ADA: 10,000); 0 = off
    ema_rampup: float = 0.05  # early on the half-life is at most this fraction of the images seen; 0 = none
    replay_size: int = 0  # experience replay: fakes kept from earlier steps; 0 = off
    replay_prob: float = 0.5  # the chance that a fake shown to D is swapped for a kept one
    # autocast; auto: bf16 in a CUDA graph, else fp32 (train/runtime.py says why)
    precision: str = option("auto", choices=("auto", "fp32", "bf16", "fp16"))
    channels_last: str = option("auto", choices=("auto", "on", "off"))  # NHWC convs; auto: on CUDA in bf16/fp16
    compile: bool = False  # torch.compile the networks (train/runtime.py)
    cuda_graphs: bool = False  # the whole step as one CUDA graph, replayed (train/graphs.py)
    sync_batchnorm: bool = False  # with several processes (torchrun): BatchNorm over the global batch
    dist_backend: str = option("auto", choices=("auto", "nccl", "gloo"))  # torchrun runs; auto: nccl on CUDA
    logger: str = option("files", choices=("files", "tensorboard"))  # tensorboard: also RUN_DIR/tensorboard/


@dataclass
class HealthConfig:
    """Training health (train/health.py): the thresholds of its events, and which events stop a run."""

    stop_on: str = ""  # events that stop training, comma-separated (nonfinite always stops)
    window: int = option(200, positive=True)  # steps over which a condition must hold
    warmup: int = 500  # steps before d_wins, g_wins, recon_stalled, grad_vanishing, mode_collapse are judged
    d_wins_below: float = 0.15  # D's loss below this fraction of its chance level (0.10 for bce), G's climbing
    g_wins_below: float = 0.15  # G's adversarial loss below this fraction of the chance level, D's climbing
    recon_stall: float = 0.005  # the reconstruction loss fell by less than this fraction over a window
    grad_vanishing_below: float = 1e-5  # G's gradient norm below this for the window
    grad_exploding_above: float = 1e3  # a gradient norm above this
    collapse_below: float = 0.5  # diversity (metrics/diversity.py) below this at the last `collapse_checks`
    collapse_checks: int = option(2, positive=True)  # sample steps in a row
    diversity_samples: int = 500  # generated images scored at each sample step; 0 = no diversity measure


@dataclass
class EvalConfig:
    """Evaluation during training (train/evaluation.py): metrics every `every` steps, best.pt kept."""

    every: int = 0  # steps between evaluations; 0 = none during training
    features: str = option("own", choices=extractor_names)  # own (trained on the run's data) or inception
    images: int = option(1000, positive=True)  # generated images (or held-out pairs) per evaluation
    best_metric: str = option("fid", choices=metric_names)  # checkpoints/best.pt is the best by this


DEFAULT_FAMILY = "dcgan"


def _default_model() -> ModelConfig:
    return model_options(DEFAULT_FAMILY)


@dataclass
class Config:
    version: int = VERSION
    preset: str = ""
    model: ModelConfig = field(default_factory=_default_model)
    data: DataConfig = field(default_factory=DataConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    health: HealthConfig = field(default_factory=HealthConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)

    @property
    def task(self) -> str:
        """unconditional (noise to image) or paired (image to image): the model family's."""
        from .models import FAMILIES

        return FAMILIES.get(self.model.family).task

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_dict(), indent=2) + "\n")


def model_options(family: str) -> ModelConfig:
    """The `model` section of `family` with the family's defaults."""
    from .models import FAMILIES

    return FAMILIES.get(family).options(family=family)


def load_config(source: str | Path | dict | Config | None) -> Config:
    """A new Config from a preset name, a JSON file path, a (partial) dict or a Config (deep-copied)."""
    if isinstance(source, Config):
        return copy.deepcopy(source)
    if source is None:
        return Config()
    if isinstance(source, dict):
        return _from_dict(source, origin="config")
    text = str(source)
    path = Path(text)
    if text.endswith(".json") or path.is_file() or _names_a_path(text):
        if not path.is_file():
            what = "is a folder" if path.is_dir() else "does not exist"
            raise UserError(f"config file {path} {what}; give a preset name (ganforge presets) or a .json file")
        try:
            data = json.loads(path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise UserError(f"cannot read config file {path}: {e}; fix the JSON") from None
        if not isinstance(data, dict):
            raise UserError(f"config file {path} must hold a JSON object of config sections")
        from .seed002 import is_seed_run_config, load_seed002

        if is_seed_run_config(data):
            return load_seed002(path)
        return _from_dict(data, origin=str(path))
    cfg = _from_dict(preset_dict(text), origin=f"preset {text}")
    cfg.preset = text
    return cfg


def _names_a_path(text: str) -> bool:
    """A path, not a preset name: it holds a separator, or names an existing folder that no preset has."""
    return "/" in text or "\\" in text or (Path(text).is_dir() and text not in preset_names())


def _from_dict(data: dict[str, Any], origin: str) -> Config:
    """A preset file holds no `preset` key; a user's file may name one to start from."""
    from .config_upgrade import upgrade

    data = upgrade(dict(data), origin)
    data.pop("description", None)
    base = data.get("preset")
    cfg = _from_dict(preset_dict(base), origin=f"preset {base}") if base else Config()
    _merge(cfg, data, prefix="", origin=origin)
    validate(cfg, origin)
    return cfg


def _merge(obj: Any, data: dict[str, Any], prefix: str, origin: str) -> None:
    if isinstance(obj, Config) and isinstance(data.get("model"), dict) and "family" in data["model"]:
        set_family(obj, data["model"]["family"], origin)
    known = {f.name: f for f in fields(obj)}
    for key, value in data.items():
        dotted = f"{prefix}{key}"
        if key not in known:
            raise UserError(f"unknown config key {dotted!r} in {origin}; known keys here: {', '.join(known)}")
        current = getattr(obj, key)
        if dataclasses.is_dataclass(current):
            if not isinstance(value, dict):
                sub_keys = ", ".join(f.name for f in fields(current))
                raise UserError(f"config key {dotted!r} in {origin} must be an object of {sub_keys}")
            _merge(current, value, f"{dotted}.", origin)
        else:
            setattr(obj, key, coerce(value, field_type(obj, key), dotted, origin))


def set_family(cfg: Config, family: Any, origin: str) -> None:
    """Give `cfg.model` the options class of `family`, with that family's defaults, if it changes."""
    if not isinstance(family, str):
        raise UserError(f"config key 'model.family' in {origin} must be str, got {json.dumps(family)}")
    if family != cfg.model.family:
        cfg.model = model_options(family)


def field_type(obj: Any, name: str) -> Any:
    return typing.get_type_hints(type(obj))[name]


def coerce(value: Any, kind: Any, key: str, origin: str) -> Any:
    """Check a JSON value against a field's type; ints are accepted where floats are expected."""
    if kind is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if kind is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    if kind is int and isinstance(value, float) and value.is_integer():
        return int(value)
    if kind is bool and isinstance(value, bool):
        return value
    if kind is str and isinstance(value, str):
        return value
    if isinstance(kind, types.UnionType) and value is None and type(None) in typing.get_args(kind):
        return None
    name = getattr(kind, "__name__", str(kind))
    raise UserError(f"config key {key!r} in {origin} must be {name}, got {json.dumps(value)}")


def _check_fields(obj: Any, prefix: str, origin: str) -> None:
    """Each field's own rules (its metadata), through every section."""
    for f in fields(obj):
        value, key = getattr(obj, f.name), f"{prefix}{f.name}"
        if dataclasses.is_dataclass(value):
            _check_fields(value, f"{key}.", origin)
        else:
            check_field(f, value, key, origin)


def check_field(f: dataclasses.Field, value: Any, key: str, origin: str) -> None:
    """One field's rules: its choices, a finite number, positive, its range."""
    choices = f.metadata.get("choices")
    if choices is not None:
        allowed = list(choices() if callable(choices) else choices)
        if value not in allowed:
            raise UserError(f"config key {key!r} in {origin} is {value!r}; choose one of {', '.join(allowed)}")
    if isinstance(value, float) and not math.isfinite(value):
        raise UserError(f"config key {key!r} in {origin} must be a finite number, got {value}")
    if f.metadata.get("positive") and value <= 0:
        raise UserError(f"config key {key!r} in {origin} must be positive, got {value}")
    low, high = f.metadata.get("range", (None, None))
    if (low is not None and value < low) or (high is not None and value >= high):
        rule = f"at least {low}" if high is None else f"in [{low}, {high})"
        raise UserError(f"config key {key!r} in {origin} must be {rule}, got {value}")


def validate(cfg: Config, origin: str) -> None:
    _check_fields(cfg, "", origin)
    for name in filter(None, (x.strip() for x in cfg.health.stop_on.split(","))):
        from .train.health import EVENT_KINDS

        if name not in EVENT_KINDS:
            raise UserError(f"health.stop_on in {origin} names {name!r}; events: {', '.join(EVENT_KINDS)}")
    if cfg.train.steps < 0 or cfg.train.epochs < 0 or cfg.train.d_steps < 0:
        raise UserError(f"train.steps, train.epochs and train.d_steps in {origin} must not be negative")
    if cfg.train.steps == 0 and cfg.train.epochs == 0:
        raise UserError(f"train.steps and train.epochs in {origin} are both 0: nothing to train; give either")
    if cfg.data.degrade and cfg.task != "paired":
        raise UserError(f"data.degrade in {origin}: the {cfg.model.family} family generates from noise: drop --degrade")
    if not cfg.data.name.strip():
        raise UserError(f"data.name in {origin} is empty; name a data set (digits, mnist, shapes ...) or a folder")
    if cfg.data.channels not in (1, 3) or cfg.data.in_channels not in (1, 3):
        raise UserError(f"data.channels and data.in_channels in {origin} must be 1 (gray) or 3 (RGB)")
    if cfg.data.degrade and cfg.data.in_channels != cfg.data.channels:
        raise UserError(
            f"data.in_channels={cfg.data.in_channels} and data.channels={cfg.data.channels} in {origin}: --degrade "
            "makes each input from its clean image, so both must be equal; set both to 1 (gray) or both to 3 (RGB)"
        )
    cfg.model.check(cfg, origin)


def __getattr__(name: str) -> Any:
    """`apply_overrides`, `parse_override` and `get_key` live in config_overrides.py since they moved out."""
    if name in ("apply_overrides", "parse_override", "get_key"):
        from . import config_overrides

        return getattr(config_overrides, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
