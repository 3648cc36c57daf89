"""Seed 002's two configuration files, read as they are and mapped onto ganforge's config.

`config.json` holds the run (data paths, latent_dim, batch size, epochs, learning rates, ...);
`model_configs.json` holds the architecture arguments and the loss weights. Both are validated: an
unknown key or a value of the wrong type is an error naming the file and the key. load.py recognises
seed 002's config.json where any config file is loaded. The seed does not
publish the files, so the key names below are ganforge's reading of its README.
"""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path
from typing import Any

from ..errors import UserError
from ..jsonio import loads
from .overrides import get_key
from .schema import Config, coerce, field_type

# config.json key -> the config keys it sets (their types are the config's own)
RUN_KEYS: dict[str, tuple[str, ...]] = {
    "train_data": ("data.name",),
    "val_data": ("data.val_name",),
    "latent_dim": ("model.n_channels",),
    "image_size": ("data.image_size",),
    "batch_size": ("train.batch_size",),
    "epochs": ("train.epochs",),
    "steps": ("train.steps",),
    "lr": ("train.g_optim.lr", "train.d_optim.lr"),
    "lr_g": ("train.g_optim.lr",),
    "lr_d": ("train.d_optim.lr",),
    "beta1": ("train.g_optim.beta1", "train.d_optim.beta1"),
    "beta2": ("train.g_optim.beta2", "train.d_optim.beta2"),
    "seed": ("train.seed",),
    "device": ("train.device",),
    "degrade": ("data.degrade",),
}
MODEL_KEYS: dict[str, dict[str, tuple[str, ...]]] = {
    "generator": {
        "in_channels": ("data.in_channels",),
        "out_channels": ("data.channels",),
        "n_levels": ("model.n_levels",),
        "padding": ("model.padding",),
        "batch_norm": ("model.batch_norm",),
        "up_mode": ("model.up_mode",),
        "n_channels": ("model.n_channels",),
    },
    "discriminator": {
        "width": ("model.d_width",),
        "conditional": ("model.d_conditional",),
    },
    "loss_weights": {
        "l1": ("loss.l1",),
        "bce": ("loss.gan_weight",),
        "tv": ("loss.tv",),
        "ssim": ("loss.ssim",),
        "gmsd": ("loss.gmsd",),
    },
}


def is_seed_run_config(data: dict[str, Any]) -> bool:
    """A JSON object in the layout of seed 002's config.json rather than ganforge's sections."""
    sections = {"task", "model", "data", "loss", "train", "version"}
    return bool(data) and not set(data) & sections and bool(set(data) & set(RUN_KEYS))


def _read(path: Path) -> dict[str, Any]:
    try:
        data = loads(Path(path).read_text(), unique_keys=True)
    except FileNotFoundError:
        raise UserError(f"{path} does not exist; give the path of the JSON file") from None
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise UserError(f"cannot read {path}: {e}; fix the JSON") from None
    if not isinstance(data, dict):
        raise UserError(f"{path} must hold a JSON object")
    return data


def _collect(values: dict[str, Any], known: dict[str, tuple[str, ...]], where: str, cfg: Config) -> dict[str, Any]:
    """Config overrides from one section, each value checked against the type of the key it sets."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        if key not in known:
            raise UserError(f"unknown key {key!r} in {where}; known keys: {', '.join(known)}")
        if key == "degrade" and isinstance(value, list):
            value = ",".join(map(str, value))
        for target in known[key]:
            section, name = target.rsplit(".", 1)
            owner = get_key(cfg, section)
            if name not in {f.name for f in fields(owner)}:
                raise UserError(
                    f"key {key!r} in {where} sets {target}, which the {cfg.model.family} model has not; "
                    "seed 002's files go with the unet-restore preset"
                )
            out[target] = coerce(value, field_type(owner, name), key, where)
    return out


def seed002_settings(
    cfg: Config, config_json: str | Path | None, model_configs_json: str | Path | None = None
) -> tuple[dict[str, Any], dict[str, str]]:
    """The config keys that seed 002's files set on `cfg`, and the file each came from (to be applied with
    the command line's own settings, so that the result is checked once, as a whole)."""
    overrides: dict[str, Any] = {}
    if config_json is not None:
        run = _read(Path(config_json))
        if "steps" in run and "epochs" in run:
            raise UserError(f"{config_json} gives both steps and epochs; keep one of them")
        overrides.update(_collect(run, RUN_KEYS, str(config_json), cfg))
        if "train.steps" in overrides:
            overrides["train.epochs"] = 0
    origins = dict.fromkeys(overrides, str(config_json))
    if model_configs_json is not None:
        models = _read(Path(model_configs_json))
        for section, value in models.items():
            if section not in MODEL_KEYS:
                raise UserError(f"unknown section {section!r} in {model_configs_json}; known: {', '.join(MODEL_KEYS)}")
            if not isinstance(value, dict):
                raise UserError(f"section {section!r} in {model_configs_json} must be a JSON object")
            found = _collect(value, MODEL_KEYS[section], f"{model_configs_json} ({section})", cfg)
            clash = overrides.get("model.n_channels")
            if clash is not None and "model.n_channels" in found and found["model.n_channels"] != clash:
                raise UserError(
                    f"generator.n_channels in {model_configs_json} ({found['model.n_channels']}) differs "
                    f"from latent_dim in {config_json} ({clash}); they are the same setting"
                )
            overrides.update(found)
            origins.update(dict.fromkeys(found, str(model_configs_json)))
    return overrides, origins
