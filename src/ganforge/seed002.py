"""Seed 002's two configuration files, read as they are and mapped onto ganforge's config.

`config.json` holds the run (data paths, latent_dim, batch size, epochs, learning rates, ...);
`model_configs.json` holds the architecture arguments and the loss weights. Both are validated: an
unknown key or a value of the wrong type is an error naming the file and the key. The seed does not
publish the files, so the key names below are ganforge's reading of its README.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .config import Config, apply_overrides, load_config
from .errors import UserError

# config.json key -> (config keys it sets, expected type)
RUN_KEYS: dict[str, tuple[tuple[str, ...], type]] = {
    "train_data": (("data.name",), str),
    "val_data": (("data.val_name",), str),
    "latent_dim": (("model.n_channels",), int),
    "image_size": (("data.image_size",), int),
    "batch_size": (("train.batch_size",), int),
    "epochs": (("train.epochs",), int),
    "steps": (("train.steps",), int),
    "lr": (("train.g_optim.lr", "train.d_optim.lr"), float),
    "lr_g": (("train.g_optim.lr",), float),
    "lr_d": (("train.d_optim.lr",), float),
    "beta1": (("train.g_optim.beta1", "train.d_optim.beta1"), float),
    "beta2": (("train.g_optim.beta2", "train.d_optim.beta2"), float),
    "seed": (("train.seed",), int),
    "device": (("train.device",), str),
    "degrade": (("data.degrade",), str),
}
MODEL_KEYS: dict[str, dict[str, tuple[tuple[str, ...], type]]] = {
    "generator": {
        "in_channels": (("data.in_channels",), int),
        "out_channels": (("data.channels",), int),
        "n_levels": (("model.n_levels",), int),
        "padding": (("model.padding",), bool),
        "batch_norm": (("model.batch_norm",), bool),
        "up_mode": (("model.up_mode",), str),
        "n_channels": (("model.n_channels",), int),
    },
    "discriminator": {
        "width": (("model.width",), int),
        "conditional": (("model.d_conditional",), bool),
    },
    "loss_weights": {
        "l1": (("loss.l1",), float),
        "bce": (("loss.gan_weight",), float),
        "tv": (("loss.tv",), float),
        "ssim": (("loss.ssim",), float),
        "gmsd": (("loss.gmsd",), float),
    },
}


def is_seed_run_config(data: dict[str, Any]) -> bool:
    """A JSON object in the layout of seed 002's config.json rather than ganforge's sections."""
    return bool(data) and not set(data) & {"task", "model", "data", "loss", "train"} and bool(set(data) & set(RUN_KEYS))


def _read(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise UserError(f"{path} does not exist; give the path of the JSON file") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise UserError(f"cannot read {path}: {e}; fix the JSON") from None
    if not isinstance(data, dict):
        raise UserError(f"{path} must hold a JSON object")
    return data


def _collect(section: dict[str, Any], known: dict[str, tuple[tuple[str, ...], type]], where: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in section.items():
        if key not in known:
            raise UserError(f"unknown key {key!r} in {where}; known keys: {', '.join(known)}")
        targets, kind = known[key]
        if kind is str and key == "degrade" and isinstance(value, list):
            value = ",".join(map(str, value))
        ok = isinstance(value, kind) and not (kind is not bool and isinstance(value, bool))
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            ok, value = True, float(value)
        if not ok:
            raise UserError(f"key {key!r} in {where} must be {kind.__name__}, got {json.dumps(value)}")
        out.update({t: value for t in targets})
    return out


def load_seed002(
    config_json: str | Path | None, model_configs_json: str | Path | None = None, base: str | Config = "unet-restore"
) -> Config:
    """A Config from seed 002's config.json and/or model_configs.json, on top of `base`."""
    overrides: dict[str, Any] = {}
    if config_json is not None:
        overrides.update(_collect(_read(Path(config_json)), RUN_KEYS, str(config_json)))
        if "train.steps" in overrides and "train.epochs" not in overrides:
            overrides["train.epochs"] = 0
    if model_configs_json is not None:
        models = _read(Path(model_configs_json))
        for section, value in models.items():
            if section not in MODEL_KEYS:
                raise UserError(f"unknown section {section!r} in {model_configs_json}; known: {', '.join(MODEL_KEYS)}")
            if not isinstance(value, dict):
                raise UserError(f"section {section!r} in {model_configs_json} must be a JSON object")
            found = _collect(value, MODEL_KEYS[section], f"{model_configs_json} ({section})")
            clash = overrides.get("model.n_channels")
            if clash is not None and "model.n_channels" in found and found["model.n_channels"] != clash:
                raise UserError(
                    f"generator.n_channels in {model_configs_json} ({found['model.n_channels']}) differs "
                    f"from latent_dim in {config_json} ({clash}); they are the same setting"
                )
            overrides.update(found)
    return apply_overrides(load_config(base), overrides)
