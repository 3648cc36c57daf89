"""Loading a config: from a preset name, a JSON file (a config of ganforge, of ganforge 0.1, or seed 002's
run file), a dict, or another Config. Every value is checked against its key's rule on the way in."""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import fields
from pathlib import Path
from typing import Any

from ..errors import UserError
from ..jsonio import loads
from ..presets import preset_dict, preset_names
from .overrides import apply_overrides
from .schema import Config, coerce, field_type, set_family, validate
from .seed002 import is_seed_run_config, seed002_settings
from .upgrade import upgrade


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
            data = loads(path.read_text(), unique_keys=True)
        except (OSError, UnicodeDecodeError, ValueError) as e:
            raise UserError(f"cannot read config file {path}: {e}; fix the JSON") from None
        if not isinstance(data, dict):
            raise UserError(f"config file {path} must hold a JSON object of config sections")
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


def load_seed002(
    config_json: str | Path | None, model_configs_json: str | Path | None = None, base: str | Config = "unet-restore"
) -> Config:
    """A Config from seed 002's config.json and/or model_configs.json, on top of `base`."""
    cfg = load_config(base)
    return apply_overrides(cfg, *seed002_settings(cfg, config_json, model_configs_json))
