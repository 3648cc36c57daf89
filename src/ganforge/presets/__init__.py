"""The presets: JSON files beside this module, each a partial config on top of the defaults."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

from ..errors import UserError


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
