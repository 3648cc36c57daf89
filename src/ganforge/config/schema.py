"""Every option of a run in one place: a tree of dataclasses, presets as JSON on top of the defaults.

A config is resolved in this order: the dataclass defaults, a preset (or a user's JSON file, which may
itself name a `preset` to start from), the CLI flags, then `--set key=value` overrides. The resolved
config is written to each run directory as `config.json`, which is again a valid config file.

This module holds the sections and their rules; load.py reads presets and files, overrides.py applies
`--set`. The `model` section belongs to the model family: `model.family` picks a family (models/), and the family's
own options class (a subclass of `ModelConfig`) gives the section's other keys and checks them. Fields carry
their rules as metadata (`option(..., choices=..., positive=...)`); choices that a registry holds are read
from it, so a registered loss or family is a valid value at once.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from ..errors import UserError
from ..files import atomic_write
from ..presets import preset_names
from ..registry import FAMILIES, names_for
from .rules import SEED_LIMIT, VERSION, check_field, device_error, listed, not_blank, option, parsed_by, version_error
from .vocab import BAD_IMAGE_POLICIES, DIRECTIONS, EVENT_KINDS, LOGGERS, METRICS

_stop_on_error, _loggers_error = listed(EVENT_KINDS, "a health event"), listed(LOGGERS, "a logger")


def _registered(key: str) -> Callable[[], list[str]]:
    """The choices of `key`: the names its registry holds when the config is checked (registry.py)."""
    return lambda: names_for(key)


def _conditional(cfg: Config) -> bool:
    return cfg.conditional


def _paired(cfg: Config) -> bool:
    return cfg.task == "paired"


def _unconditional(cfg: Config) -> bool:
    return cfg.task == "unconditional"


def _augmented(cfg: Config) -> bool:
    return bool(cfg.data.diffaugment)


FOR_PAIRS = (_paired, "image-to-image runs")
FOR_HELD_OUT = (lambda cfg: cfg.task in ("paired", "upscale"), "image-to-image runs")
FOR_TRANSLATION = (lambda cfg: cfg.task in ("paired", "unpaired"), "image-to-image runs")
EVALUATING = (lambda c: c.eval.every > 0, "eval.every > 0")
ADAPTING = (lambda c: c.data.ada_target > 0, "data.ada_target > 0")
# what CycleGAN's objective (train/cycle.py) has no place for: reconstruction against a target, penalties, D steps
NOT_CYCLE = (lambda c: c.task != "unpaired", "families other than cyclegan")
MAX_EVAL_IMAGES = 50_000  # FID-50k, the most papers use; the images are scored in batches


@dataclass
class ModelConfig:
    """The `model` section's common part; each family subclasses it with its own keys (models/)."""

    family: str = option("", choices=_registered("model.family"))  # set by the family's registration (model_options)
    spectral_norm: bool = False  # spectral normalisation of D's convolutions and linear layers (Miyato et al.)

    def check(self, cfg: Config, origin: str) -> None:
        """Checks that involve other sections (image sizes, channels); a family overrides it."""


MAX_CLASSES = 100_000


@dataclass
class NoiseOptions(ModelConfig):
    """The keys every noise-to-image family shares: class conditioning (models/conditional.py, data/labels.py)."""

    # G and D take the class: G through an embedding joined to the noise, D through a projection (Miyato
    # and Koyama 2018); the labels come from the data set (its own, a folder's subfolders or labels.csv)
    conditional: bool = False
    # classes of a conditional model; 0: the data's, found when training starts and written to config.json
    num_classes: int = option(0, at_least=0, at_most=MAX_CLASSES)
    # the share of the run over which the class fades in (0 to full strength, a half cosine); 0: full from the
    # first step. Small data sets collapse each class onto a few images without it (Shahbazi et al. 2022)
    condition_ramp: float = option(0.0, at_least=0, at_most=1, used=(_conditional, "conditional models"))


@dataclass
class DataConfig:
    # built-in data set name or a folder path (paired: shapes, facades or a folder)
    name: str = option("digits", check=lambda v: None if v.strip() else "empty: name a data set or a folder")
    image_size: int = option(64, positive=True)  # each family gives its largest (models/layers.py)
    channels: int = option(3, choices=(1, 3))  # channels of the generated images (1 gray, 3 RGB)
    in_channels: int = option(3, choices=(1, 3), used=FOR_PAIRS)  # channels of the input images of paired tasks
    # paired: AtoB, BtoA, or the data set's own (auto)
    direction: str = option("auto", choices=("auto", *DIRECTIONS), used=FOR_PAIRS)
    jitter: bool = option(True, used=FOR_TRANSLATION)  # random resize-crop and mirror of the training images
    # restoration: make inputs from clean images, e.g. "noise=0.1,blur=1" (data/degrade.py)
    degrade: str = option("", check=parsed_by("data.degrade"))
    # held-out data for sample grids and evaluate (default: the val split of `name`)
    val_name: str = option("", check=not_blank("a folder"), used=FOR_HELD_OUT)
    # DiffAugment of D's inputs, reals and fakes alike: e.g. "color,translation,cutout"
    diffaugment: str = option("", check=parsed_by("data.diffaugment"))
    # the chance that each DiffAugment operation changes an image (1: every image, as in DiffAugment), and
    # that chance at the run's last step along a half cosine, an augmentation ramp (-1: constant)
    augment_p: float = option(1.0, at_least=0, at_most=1, used=(_augmented, "runs with data.diffaugment"))
    augment_p_end: float = option(-1.0, at_least=-1, at_most=1, used=(_augmented, "runs with data.diffaugment"))
    # adaptive augmentation (ADA, train/ada.py): the r_t that p is steered to (0.6 in the paper); 0 = off.
    # Without data.diffaugment it augments with translation,color; p starts at 0
    ada_target: float = option(0.0, at_least=0, below=1)
    ada_images: int = option(100_000, positive=True, at_most=10**9, used=ADAPTING)  # images for p to move by 1
    ada_every: int = option(4, positive=True, at_most=10_000, used=ADAPTING)  # steps between p's adjustments
    num_workers: int = option(-1, at_least=-1, at_most=256)  # data loading processes; -1 chooses
    # a data set up to this many MiB (a packed set as uint8, others as float32) is held whole on the device
    resident_mib: int = option(1024, at_least=0, at_most=2**24)
    # a folder's unreadable or too small files: left out and counted (skip), or the run stops (strict)
    bad_images: str = option("skip", choices=BAD_IMAGE_POLICIES)  # (config/vocab.py, data/screening.py)
    # a folder's images with more pixels are unusable (a decompression bomb); 0: auto (data/screening.py)
    max_pixels: int = option(0, at_least=0, at_most=2**31)


@dataclass
class OptimConfig:
    name: str = option("adam", choices=_registered("train.g_optim.name"))
    lr: float = option(2e-4, positive=True)
    beta1: float = option(0.5, at_least=0, below=1)  # adam
    beta2: float = option(0.999, at_least=0, below=1)  # adam
    rho: float = option(0.9, at_least=0, below=1)  # rmsprop's moving-average factor (Keras `rho`)
    eps: float = option(1e-7, positive=True)
    lr_decay: float = option(0.0, at_least=0)  # Keras `decay`: lr / (1 + lr_decay * step)
    clip_value: float = option(0.0, at_least=0)  # clip each gradient element to [-v, v] (Keras `clipvalue`); 0 = off
    # the learning rate at the run's last step (R3GAN: a half cosine from lr; CycleGAN: linear to 0)
    lr_end: float = option(0.0, at_least=0)
    # the path to lr_end: auto (cosine where lr_end > 0, else constant), constant, cosine, linear
    lr_schedule: str = option("auto", choices=("auto", "constant", "cosine", "linear"))
    lr_hold: float = option(0.0, at_least=0, below=1)  # the share of the run at lr before the path starts
    # adam's beta2 at step 0, rising along the same cosine to beta2 (R3GAN: 0.9 to 0.99); 0 = constant
    beta2_start: float = option(0.0, at_least=0, below=1)


@dataclass
class LossConfig:
    gan: str = option("bce", choices=_registered("loss.gan"))  # the adversarial loss (losses.py)
    gan_weight: float = option(1.0, at_least=0)
    l1: float = option(0.0, at_least=0, used=NOT_CYCLE)  # paired tasks: weight of L1(G(x), y); pix2pix uses 100
    ssim: float = option(0.0, at_least=0, used=NOT_CYCLE)  # weight of 1 - SSIM(G(x), y) (11x11 Gaussian, sigma 1.5)
    gmsd: float = option(0.0, at_least=0, used=NOT_CYCLE)  # weight of GMSD(G(x), y) (gradient magnitude sim. dev.)
    tv: float = option(0.0, at_least=0, used=NOT_CYCLE)  # weight of the total variation of G(x)
    perceptual: float = option(0.0, at_least=0, used=NOT_CYCLE)  # weight of the VGG19 feature loss (metrics/vgg.py)
    gp: float = option(10.0, at_least=0)  # wgan-gp: weight of the gradient penalty on interpolates (Gulrajani et al.)
    # gamma of the R1 penalty gamma/2 * E|grad D(real)|^2 (Mescheder et al.); 0 = off
    r1: float = option(0.0, at_least=0, used=NOT_CYCLE)
    r2: float = option(0.0, at_least=0, used=NOT_CYCLE)  # gamma of the R2 penalty, the same on fakes
    reg_every: int = option(1, positive=True, at_most=10_000)  # R1/R2 every this many steps, as a lazy phase
    # a conditional G's mode-seeking term (Mao et al. 2019): weight / (image distance / noise distance) of two
    # fakes of one class; without it a class collapses onto one image on small data
    mode_seeking: float = option(0.3, at_least=0, at_most=1000, used=(_conditional, "conditional models"))
    # R1 and R2's gamma at the run's last step, as a fraction of r1 and r2, along a half cosine (R3GAN: 0.1)
    penalty_end: float = option(1.0, at_least=0, at_most=1000)
    label_smoothing: float = option(0.0, at_least=0, below=1)  # one-sided: reals' target 1 - s (bce, lsgan)
    # unpaired translation (cyclegan): the weight of cycle consistency, L1(G_BA(G_AB(a)), a) and back (10),
    # and of the identity terms L1(G_AB(b), b) and back, as a fraction of it (0.5)
    cycle: float = option(0.0, at_least=0)
    identity: float = option(0.0, at_least=0)
    instance_noise: float = option(0.0, at_least=0)  # std of Gaussian noise on D's inputs ([-1, 1] range), to 0
    # steps over which it falls linearly to 0; 0 = the whole run
    instance_noise_steps: int = option(
        0, at_least=0, used=(lambda c: c.loss.instance_noise > 0, "loss.instance_noise > 0")
    )


@dataclass
class TrainConfig:
    steps: int = option(1500, at_least=0, at_most=10**9)  # total generator steps; used when epochs is 0
    epochs: int = option(0, at_least=0, at_most=10**6)  # if > 0, this many passes over the data instead of steps
    # a time budget: training stops cleanly at the first log step past this many minutes of training, summed
    # over resumes (train/stopping.py); 0 = none
    max_minutes: float = option(0.0, at_least=0, at_most=10**7)
    batch_size: int = option(32, positive=True, at_most=65536)  # the global batch, shared among torchrun's processes
    # discriminator steps per generator step, each on a fresh batch; 0: the loss's (wgan-gp 5, else 1)
    d_steps: int = option(0, at_least=0, at_most=100, used=NOT_CYCLE)
    # fine-tuning: a trained run whose latest weights this run starts from (train/init_from.py), and how
    # many of D's first layers stay as trained (FreezeD); a resume keeps its own weights
    init_from: str = option("", check=not_blank("a run folder"))
    freeze_d: int = option(0, at_least=0, at_most=1000)
    seed: int = option(0, at_least=0, below=SEED_LIMIT)
    device: str = option("auto", check=device_error)  # auto | cpu | cuda | cuda:N
    g_optim: OptimConfig = field(default_factory=OptimConfig)
    d_optim: OptimConfig = field(default_factory=OptimConfig)
    log_every: int = option(10, positive=True)  # steps between metric lines
    sample_every: int = option(250, positive=True)  # steps between sample grids
    checkpoint_every: int = option(500, positive=True)  # steps between kept checkpoints (and latest.pt)
    grid_size: int = option(8, positive=True, at_most=32)  # the sample grid is grid_size x grid_size images
    ema: float = option(0.0, at_least=0)  # half-life of G's moving average, in images (StyleGAN2-ADA: 10,000); 0 = off
    # early on the half-life is at most this fraction of the images seen; 0 = none
    ema_rampup: float = option(0.05, at_least=0, at_most=1, used=(lambda c: c.train.ema > 0, "train.ema > 0"))
    replay_size: int = option(0, at_least=0, at_most=100_000)  # experience replay: fakes kept from earlier steps
    # the chance that a fake shown to D is swapped for a kept one
    replay_prob: float = option(
        0.5, at_least=0, at_most=1, used=(lambda c: c.train.replay_size > 0, "train.replay_size > 0")
    )
    # autocast; auto: bf16 in a CUDA graph or on a CPU with native bf16, else fp32 (train/runtime.py)
    precision: str = option("auto", choices=("auto", "fp32", "bf16", "fp16"))
    channels_last: str = option("auto", choices=("auto", "on", "off"))  # NHWC convs; auto: in bf16/fp16
    compile: bool = False  # torch.compile the networks (train/runtime.py)
    cuda_graphs: bool = False  # the whole step as one CUDA graph, replayed (train/graphs.py)
    sync_batchnorm: bool = False  # with several processes (torchrun): BatchNorm over the global batch
    dist_backend: str = option("auto", choices=("auto", "nccl", "gloo"))  # torchrun runs; auto: nccl on CUDA
    # seconds a process waits for the others at a collective before the run fails (torchrun runs)
    dist_timeout: float = option(600.0, positive=True, at_most=86_400)
    # where the run is also shown, comma-separated: tensorboard (RUN_DIR/tensorboard/), wandb, mlflow (docs/runs.md)
    logger: str = option("files", check=_loggers_error)


@dataclass
class HealthConfig:
    """Training health (health.py): the thresholds of its events, and which events stop a run."""

    stop_on: str = option("", check=_stop_on_error)  # events that stop training, comma-separated (nonfinite always)
    window: int = option(200, positive=True)  # steps over which a condition must hold
    warmup: int = option(500, at_least=0)  # steps before d_wins, g_wins, ... mode_collapse are judged
    # D's loss below this fraction of its chance level (0.10 for bce), G's climbing
    d_wins_below: float = option(0.15, at_least=0, at_most=1)
    # G's adversarial loss below this fraction of the chance level, D's climbing
    g_wins_below: float = option(0.15, at_least=0, at_most=1)
    # the reconstruction loss fell by less than this fraction over a window
    recon_stall: float = option(0.005, at_least=0, at_most=1)
    grad_vanishing_below: float = option(1e-5, at_least=0)  # G's gradient norm below this for the window
    grad_exploding_above: float = option(1e3, positive=True)  # a gradient norm above this
    # diversity (metrics/diversity.py) below this at the last `collapse_checks`
    collapse_below: float = option(0.5, at_least=0, at_most=1)
    collapse_checks: int = option(2, positive=True)  # sample steps in a row
    # mode_imbalance (metrics/diversity.py: the share of generated images in the wrong modes) above this at the
    # last `dropping_checks` sample steps of the run's second half: mode_dropping
    dropping_above: float = option(0.3, at_least=0, at_most=1)
    dropping_checks: int = option(3, positive=True)  # sample steps in a row
    # near_copies (metrics/memorisation.py: at sample steps and evaluations) above this: memorising
    memorising_above: float = option(0.3, at_least=0, at_most=1)
    # the share of a log window's time that the step waited for data, above this in a window's lines: data_starved
    starved_above: float = option(0.5, positive=True, at_most=1)
    # generated images scored at each sample step (diversity, modes, near-copies); 0 = none
    diversity_samples: int = option(500, at_least=0, at_most=100_000, used=(_unconditional, "noise-to-image runs"))


@dataclass
class EvalConfig:
    """Evaluation during training (train/evaluation.py): metrics every `every` steps, best.pt kept."""

    every: int = option(0, at_least=0)  # steps between evaluations; 0 = none during training
    # own (trained on the run's data) or inception
    features: str = option("own", choices=_registered("eval.features"), used=EVALUATING)
    # generated images (or held-out pairs) per evaluation
    images: int = option(1000, positive=True, at_most=MAX_EVAL_IMAGES, used=EVALUATING)
    best_metric: str = option("fid", choices=METRICS, used=EVALUATING)  # checkpoints/best.pt is the best by this


DEFAULT_FAMILY = "dcgan"


def _default_model() -> ModelConfig:
    return model_options(DEFAULT_FAMILY)


@dataclass
class Config:
    version: int = option(VERSION, check=version_error)
    preset: str = option("", choices=lambda: ["", *preset_names()])
    model: ModelConfig = field(default_factory=_default_model)
    data: DataConfig = field(default_factory=DataConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    health: HealthConfig = field(default_factory=HealthConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)

    @property
    def task(self) -> str:
        """unconditional (noise to image) or paired (image to image): the model family's."""
        return FAMILIES.get(self.model.family).task

    @property
    def conditional(self) -> bool:
        """Whether the model takes a class (`model.conditional`, a key of the noise-to-image families)."""
        return bool(getattr(self.model, "conditional", False))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def save(self, path: Path) -> None:
        """config.json, written atomically (a full disk or a kill leaves the previous file whole)."""
        atomic_write(path, json.dumps(self.to_dict(), indent=2) + "\n")


def model_options(family: str) -> ModelConfig:
    """The `model` section of `family` with the family's defaults."""
    return FAMILIES.get(family).options(family=family)


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


def unused_settings(cfg: Config) -> list[str]:
    """Warnings for keys set to other than their default where this config does not read them."""
    notes = []

    def walk(obj: Any, default: Any, prefix: str) -> None:
        for f in fields(obj):
            value, key = getattr(obj, f.name), f"{prefix}{f.name}"
            if dataclasses.is_dataclass(value):
                walk(value, getattr(default, f.name, None) if default is not None else None, f"{key}.")
            elif f.metadata.get("used") and default is not None and value != getattr(default, f.name, value):
                reads, when = f.metadata["used"]
                if not reads(cfg):
                    notes.append(f"warning: {key}={value!r} is set, but only {when} read it; this run ignores it")

    walk(cfg, _defaults_like(cfg), "")
    return notes


def _defaults_like(cfg: Config) -> Config:
    """A config of defaults with the same model family (whose section decides the model keys)."""
    fresh = Config()
    fresh.model = model_options(cfg.model.family)
    return fresh


def validate(cfg: Config, origin: str) -> None:
    _check_fields(cfg, "", origin)
    if cfg.train.steps == 0 and cfg.train.epochs == 0:
        raise UserError(f"train.steps and train.epochs in {origin} are both 0: nothing to train; give either")
    if cfg.data.degrade and cfg.task != "paired":
        what = "generates from noise" if cfg.task == "unconditional" else "makes its own inputs"
        raise UserError(f"data.degrade in {origin}: the {cfg.model.family} family {what}: drop --degrade")
    if cfg.data.ada_target and cfg.data.augment_p_end >= 0:
        raise UserError(
            f"data.ada_target and data.augment_p_end in {origin} both steer the augmentation's chance: keep one"
        )
    if cfg.data.degrade and cfg.data.in_channels != cfg.data.channels:
        raise UserError(
            f"data.in_channels={cfg.data.in_channels} and data.channels={cfg.data.channels} in {origin}: --degrade "
            "makes each input from its clean image, so both must be equal; set both to 1 (gray) or both to 3 (RGB)"
        )
    for name in ("g_optim", "d_optim"):
        o = getattr(cfg.train, name)
        if (o.lr_end or o.lr_schedule in ("cosine", "linear")) and o.lr_decay:
            what = "lr_end" if o.lr_end else "lr_schedule"
            raise UserError(
                f"train.{name}.{what} and train.{name}.lr_decay in {origin} both change the learning rate: keep one"
            )
    cfg.model.check(cfg, origin)
