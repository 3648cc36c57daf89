"""Checkpoints: written atomically (a temporary file renamed into place), so a crash or a kill during
saving never leaves a broken `latest.pt`."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from ..errors import UserError


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def load_checkpoint(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise UserError(f"checkpoint {path} does not exist; is {path.parent.parent} a finished or running run?")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # a truncated or foreign file
        raise UserError(f"cannot read checkpoint {path}: {str(e).splitlines()[0]}; it may be corrupt") from None
