"""Configs written before version 2 (ganforge 0.1): a top-level `task` and one flat `model` section."""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from ..errors import UserError
from ..presets import preset_dict
from ..registry import FAMILIES
from .schema import DEFAULT_FAMILY

# The flat `model` section of ganforge 0.1, where every family read the keys it needed and ignored the rest.
_V1_MODEL_KEYS = {"latent_dim", "width", "leaky_slope", "d_dropout", "g_dropout", "init", "d_conditional"}
_V1_MODEL_KEYS |= {"n_levels", "padding", "batch_norm", "up_mode", "n_channels"}
# 0.1 keys that a version-2 family names otherwise: what each meant in that family.
_V1_RENAMED = {"unet": {"width": "d_width", "leaky_slope": "d_leaky_slope"}, "dcgan": {"leaky_slope": "d_leaky_slope"}}


def upgrade(data: dict[str, Any], origin: str) -> dict[str, Any]:
    """Read a config written before version 2: keys renamed since then take their new names; a run
    directory's config.json (it holds `task` and every model key) also drops keys its family never read."""
    if "version" in data:
        return data
    task = data.pop("task", None)
    model = data.get("model", {})
    if not isinstance(model, dict):
        return data  # the config's own check names the key
    if "family" in model:
        name = model["family"]
    elif isinstance(data.get("preset"), str) and data["preset"]:
        name = preset_dict(data["preset"])["model"]["family"]
    else:
        name = DEFAULT_FAMILY

    family = FAMILIES.get(name)
    if task is not None and task != family.task:
        raise UserError(
            f"task {task!r} in {origin} contradicts model.family={family.name!r} ({family.task}); drop the task key"
        )
    if "model" not in data:
        return data
    renamed = _V1_RENAMED.get(family.name, {})
    model = {renamed.get(k, k): v for k, v in model.items()}
    if task is not None:
        known = {f.name for f in fields(family.options)}
        model = {k: v for k, v in model.items() if k in known or k not in _V1_MODEL_KEYS}
    data["model"] = model
    return data
