"""Every option of a run in one place: a tree of dataclasses, presets as JSON on top of the defaults.

A config is resolved in this order: the dataclass defaults, a preset (or a user's JSON file, which may
itself name a `preset` to start from), the CLI flags, then `--set key=value` overrides. The resolved
config is written to each run directory as `config.json`, which is again a valid config file.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from dataclasses import asdict, dataclass, field, fields
from importlib import resources
from pathlib import Path
from typing import Any

from .errors import UserError


@dataclass
class ModelConfig:
    family: str = "dcgan"  # dcgan-mnist | dcgan-128 | dcgan | pix2pix | unet
    latent_dim: int = 100  # size of the noise vector (unconditional families)
    width: int = 64  # base number of channels; layer widths are multiples of it
    leaky_slope: float = 0.2
    d_dropout: float = 0.3  # discriminator dropout (dcgan-mnist, dcgan-128)
    g_dropout: float = 0.5  # generator dropout (pix2pix decoder)
    init: str = "normal"  # normal (N(0, 0.02)) | keras (Glorot uniform) | torch
    d_conditional: bool = True  # paired tasks: D judges (input, image) pairs (pix2pix) or the image alone
    # the seed-002 U-Net (family unet)
    n_levels: int = 4  # depth
    padding: bool = False  # False: unpadded 3x3 convolutions, the output is smaller than the input
    batch_norm: bool = False
    up_mode: str = "upsample"  # upconv | upsample | pixelshuffle
    n_channels: int = 256  # channels of the deepest level (latent_dim in the seed's config.json)


@dataclass
class DataConfig:
    name: str = "digits"  # built-in data set name or a folder path (paired: shapes, facades or a folder)
    image_size: int = 64
    channels: int = 3  # channels of the generated images (1 gray, 3 RGB)
    in_channels: int = 3  # channels of the input images of paired tasks
    direction: str = "AtoB"  # paired, side-by-side layout: which half is the input
    jitter: bool = True  # paired: random resize-crop and mirror of the training pairs
    degrade: str = ""  # restoration: make inputs from clean images, e.g. "noise=0.1,blur=1" (data/degrade.py)
    val_name: str = ""  # held-out data for sample grids and evaluate (default: the val split of `name`)
    num_workers: int = -1  # data loading processes; -1 chooses (0 for in-memory data sets)


@dataclass
class OptimConfig:
    name: str = "adam"  # adam | rmsprop
    lr: float = 2e-4
    beta1: float = 0.5  # adam
    beta2: float = 0.999  # adam
    rho: float = 0.9  # rmsprop's moving-average factor (Keras `rho`)
    eps: float = 1e-7
    lr_decay: float = 0.0  # Keras `decay`: lr / (1 + lr_decay * step)
    clip_value: float = 0.0  # clip each gradient element to [-v, v] (Keras `clipvalue`); 0 = off


@dataclass
class LossConfig:
    gan: str = "bce"  # bce (non-saturating, with logits) | lsgan | hinge
    gan_weight: float = 1.0
    l1: float = 0.0  # paired tasks: weight of L1(G(x), y); pix2pix uses 100
    ssim: float = 0.0  # weight of 1 - SSIM(G(x), y) (11x11 Gaussian window, sigma 1.5)
    gmsd: float = 0.0  # weight of GMSD(G(x), y) (gradient magnitude similarity deviation)
    tv: float = 0.0  # weight of the total variation of G(x)


@dataclass
class TrainConfig:
    steps: int = 1500  # total optimisation steps; used when epochs is 0
    epochs: int = 0  # if > 0, train this many passes over the data instead of `steps`
    batch_size: int = 32
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    g_optim: OptimConfig = field(default_factory=OptimConfig)
    d_optim: OptimConfig = field(default_factory=OptimConfig)
    log_every: int = 10  # steps between metric lines
    sample_every: int = 250  # steps between sample grids
    checkpoint_every: int = 500  # steps between kept checkpoints (latest.pt is written at each of them too)
    grid_size: int = 8  # the sample grid is grid_size x grid_size images from fixed noise


@dataclass
class Config:
    preset: str = ""
    task: str = "unconditional"  # unconditional | paired
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_dict(), indent=2) + "\n")


CHOICES = {
    "task": ("unconditional", "paired"),
    "model.family": ("dcgan-mnist", "dcgan-128", "dcgan", "pix2pix", "unet"),
    "model.up_mode": ("upconv", "upsample", "pixelshuffle"),
    "model.init": ("normal", "keras", "torch"),
    "data.direction": ("AtoB", "BtoA"),
    "loss.gan": ("bce", "lsgan", "hinge"),
    "train.g_optim.name": ("adam", "rmsprop"),
    "train.d_optim.name": ("adam", "rmsprop"),
}
POSITIVE = (
    "model.latent_dim",
    "model.width",
    "data.image_size",
    "train.batch_size",
    "train.log_every",
    "train.sample_every",
    "train.checkpoint_every",
    "train.grid_size",
)


# ----------------------------------------------------------------------------------------------- presets


def preset_names() -> list[str]:
    folder = resources.files("ganforge") / "presets"
    return sorted(p.name[: -len(".json")] for p in folder.iterdir() if p.name.endswith(".json"))


def preset_dict(name: str) -> dict[str, Any]:
    if name not in preset_names():
        raise UserError(f"unknown preset {name!r}; choose one of {', '.join(preset_names())} (ganforge presets)")
    text = (resources.files("ganforge") / "presets" / f"{name}.json").read_text()
    return json.loads(text)


def preset_summary(name: str) -> str:
    return preset_dict(name).get("description", "")


# ------------------------------------------------------------------------------------------- resolution


def load_config(source: str | Path | dict | Config | None) -> Config:
    """A Config from a preset name, a JSON file path, a (partial) dict or a Config."""
    if isinstance(source, Config):
        return dataclasses.replace(source)
    if source is None:
        return Config()
    if isinstance(source, dict):
        return _from_dict(source, origin="config")
    text = str(source)
    path = Path(text)
    if text.endswith(".json") or path.is_file():
        if not path.is_file():
            raise UserError(f"config file {path} does not exist; give a preset name or an existing .json file")
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


def _from_dict(data: dict[str, Any], origin: str) -> Config:
    """A preset file holds no `preset` key; a user's file may name one to start from."""
    data = dict(data)
    data.pop("description", None)
    base = data.get("preset")
    cfg = _from_dict(preset_dict(base), origin=f"preset {base}") if base else Config()
    _merge(cfg, data, prefix="", origin=origin)
    validate(cfg, origin)
    return cfg


def _merge(obj: Any, data: dict[str, Any], prefix: str, origin: str) -> None:
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
            setattr(obj, key, _coerce(value, _field_type(obj, key), dotted, origin))


def _field_type(obj: Any, name: str) -> type:
    hints = typing.get_type_hints(type(obj))
    return hints[name]


def _coerce(value: Any, kind: Any, key: str, origin: str) -> Any:
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


def parse_override(item: str) -> tuple[str, str]:
    if "=" not in item:
        raise UserError(f"--set {item!r} is not key=value; write for example --set train.batch_size=64")
    key, value = item.split("=", 1)
    return key.strip(), value.strip()


def apply_overrides(cfg: Config, overrides: dict[str, Any] | list[str] | None) -> Config:
    """Apply dotted `key=value` overrides; string values are parsed by the field's type."""
    if not overrides:
        return cfg
    items = [parse_override(o) for o in overrides] if isinstance(overrides, list) else overrides.items()
    for key, value in items:
        obj: Any = cfg
        parts = key.split(".")
        for i, part in enumerate(parts):
            known = [f.name for f in fields(obj)]
            if part not in known:
                where = ".".join(parts[:i]) or "the top level"
                raise UserError(f"unknown config key {key!r} (--set); keys under {where}: {', '.join(known)}")
            if i < len(parts) - 1:
                obj = getattr(obj, part)
                if not dataclasses.is_dataclass(obj):
                    raise UserError(f"config key {'.'.join(parts[: i + 1])!r} has no sub-keys (--set {key})")
        name = parts[-1]
        if dataclasses.is_dataclass(getattr(obj, name)):
            raise UserError(f"config key {key!r} is a section; set one of its keys, e.g. {key}.<name>=...")
        kind = _field_type(obj, name)
        setattr(
            obj, name, _parse_text(value, kind, key) if isinstance(value, str) else _coerce(value, kind, key, "--set")
        )
    validate(cfg, "--set")
    return cfg


def _parse_text(text: str, kind: Any, key: str) -> Any:
    try:
        if kind is bool:
            if text.lower() in ("1", "true", "yes", "on"):
                return True
            if text.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError
        if kind is int:
            return int(text)
        if kind is float:
            return float(text)
    except ValueError:
        raise UserError(f"--set {key}={text}: {key!r} must be {kind.__name__}") from None
    return text


def get_key(cfg: Config, key: str) -> Any:
    obj: Any = cfg
    for part in key.split("."):
        obj = getattr(obj, part)
    return obj


def validate(cfg: Config, origin: str) -> None:
    for key, allowed in CHOICES.items():
        value = get_key(cfg, key)
        if value not in allowed:
            raise UserError(f"config key {key!r} in {origin} is {value!r}; choose one of {', '.join(allowed)}")
    for key in POSITIVE:
        if get_key(cfg, key) <= 0:
            raise UserError(f"config key {key!r} in {origin} must be positive, got {get_key(cfg, key)}")
    if cfg.train.steps < 0 or cfg.train.epochs < 0:
        raise UserError(f"train.steps and train.epochs in {origin} must not be negative")
    if cfg.data.channels not in (1, 3) or cfg.data.in_channels not in (1, 3):
        raise UserError(f"data.channels and data.in_channels in {origin} must be 1 (gray) or 3 (RGB)")
