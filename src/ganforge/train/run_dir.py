"""A run directory: config.json, log.txt, metrics.jsonl, samples/, checkpoints/, losses.png."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..config import Config, load_config
from ..errors import UserError
from ..report.plots import read_metrics


@dataclass
class Run:
    dir: Path
    config: Config
    step: int

    @property
    def checkpoint(self) -> Path:
        return self.dir / "checkpoints" / "latest.pt"

    @property
    def samples(self) -> Path:
        return self.dir / "samples"

    @property
    def loss_plot(self) -> Path:
        return self.dir / "losses.png"

    def latest_grid(self) -> Path | None:
        grids = sorted(self.samples.glob("step_*.png"))
        return grids[-1] if grids else None

    def metrics(self) -> list[dict]:
        return read_metrics(self.dir / "metrics.jsonl")


def is_run_dir(path: Path) -> bool:
    return (path / "config.json").is_file() and (path / "checkpoints").is_dir()


def open_run(run_dir: str | Path) -> tuple[Path, Config]:
    """A run directory and its config, or a UserError that says why it is not one."""
    path = Path(run_dir)
    if not path.is_dir():
        raise UserError(f"run directory {path} does not exist; give the --out folder of an earlier ganforge train")
    if not is_run_dir(path):
        raise UserError(f"{path} is not a ganforge run directory (no config.json and checkpoints/ in it)")
    return path, load_config(path / "config.json")
