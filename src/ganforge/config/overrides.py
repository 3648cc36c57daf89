"""Dotted `key=value` settings on top of a config: `--set` items, and the keys that the command line's
own flags set (`--batch-size`, `--precision` ...). Each key's errors name where its value came from."""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Mapping
from dataclasses import fields
from typing import Any

from ..errors import UserError
from .rules import check_field
from .schema import Config, coerce, field_type, set_family, validate


def parse_override(item: str) -> tuple[str, str]:
    """`key=value` text as (key, value)."""
    if "=" not in item:
        raise UserError(f"--set {item!r} is not key=value; write for example --set train.batch_size=64")
    key, value = item.split("=", 1)
    return key.strip(), value.strip()


def apply_overrides(
    cfg: Config, overrides: dict[str, Any] | list[str] | None, origins: Mapping[str, str] | None = None
) -> Config:
    """A copy of `cfg` with dotted `key=value` overrides applied; string values are parsed by the field's
    type. `model.family` is applied first, since it decides which other `model.*` keys exist. `origins`
    names where a key's value came from (a flag such as `--batch-size`); the others came from `--set`."""
    cfg = copy.deepcopy(cfg)
    if not overrides:
        return cfg
    origins = origins or {}
    items = [parse_override(o) for o in overrides] if isinstance(overrides, list) else list(overrides.items())
    items.sort(key=lambda item: item[0] != "model.family")
    for key, value in items:
        origin = origins.get(key, "--set")
        if key == "model.family":
            set_family(cfg, value, origin)
            continue
        obj, name = _field_of(cfg, key)
        kind = field_type(obj, name)
        parsed = _parse_text(value, kind, key, origin) if isinstance(value, str) else coerce(value, kind, key, origin)
        setattr(obj, name, parsed)
        check_field(next(f for f in fields(obj) if f.name == name), parsed, key, origin)
    given = {origins.get(key, "--set") for key, _ in items}
    validate(cfg, given.pop() if len(given) == 1 else "the command line")
    return cfg


def _field_of(cfg: Config, key: str) -> tuple[Any, str]:
    """The section that holds `key`, and the field's name in it."""
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
    if dataclasses.is_dataclass(getattr(obj, parts[-1])):
        raise UserError(f"config key {key!r} is a section; set one of its keys, e.g. {key}.<name>=...")
    return obj, parts[-1]


def _parse_text(text: str, kind: Any, key: str, origin: str) -> Any:
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
        shown = f"--set {key}={text}" if origin == "--set" else f"{origin} {text}"
        raise UserError(f"{shown}: {key!r} must be {kind.__name__}") from None
    return text


def get_key(cfg: Config, key: str) -> Any:
    """The value of a dotted key, e.g. `get_key(cfg, "train.g_optim.lr")`."""
    obj: Any = cfg
    for part in key.split("."):
        obj = getattr(obj, part)
    return obj
