"""A run directory opened: its config, the `Run` that training returns, and its metrics lines."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..config import Config, load_config
from ..errors import UserError
from ..jsonio import is_number, read_lines
from .layout import RunLayout


@dataclass
class Run:
    """A finished (or stopped) run: its folder, config and last step; `ganforge.train` returns one."""

    dir: Path
    config: Config
    step: int
    main: bool = True  # this process is the run's first (under torchrun every process returns a Run)

    @property
    def layout(self) -> RunLayout:
        return RunLayout(self.dir)

    @property
    def checkpoint(self) -> Path:
        return self.layout.latest

    @property
    def samples(self) -> Path:
        return self.layout.samples

    @property
    def loss_plot(self) -> Path:
        return self.layout.loss_plot

    def latest_grid(self) -> Path | None:
        grids = self.layout.grids()
        return grids[-1] if grids else None

    def metrics(self) -> list[dict]:
        return read_metrics(self.layout.metrics)


def is_run_dir(path: Path) -> bool:
    return RunLayout(path).is_run()


def open_run(run_dir: str | Path) -> tuple[Path, Config]:
    """A run directory and its config, or a UserError that says why it is not one."""
    path = Path(run_dir)
    if not path.is_dir():
        raise UserError(f"run directory {path} does not exist; give the --out folder of an earlier ganforge train")
    if not is_run_dir(path):
        raise UserError(f"{path} is not a ganforge run directory (no config.json and checkpoints/ in it)")
    return path, load_config(RunLayout(path).config)


def read_metrics(path: Path) -> list[dict]:
    """The lines of a metrics.jsonl that are metrics lines (JSON objects with an integer step), with only
    their numbers (or nulls): a value of another kind, written by hand, is left out."""
    rows = read_lines(path, key="step")
    return [{k: v for k, v in r.items() if v is None or is_number(v) or k == "step"} for r in rows]


def save_config(cfg: Config, run_dir: Path) -> None:
    """RUN_DIR/config.json, atomically; a write that fails (a full disk) is one line, the old file whole."""
    path = RunLayout(run_dir).config
    try:
        cfg.save(path)
    except OSError as e:
        raise UserError(f"cannot write {path} ({e.strerror or e}); free some space and start again") from None
