"""The layout of a run folder, spelled once: every file and folder a run holds, by what it is.

RUN_DIR/
  config.json      the resolved config (again a valid config file)
  classes.json     a conditional run's class names, by class number
  command.txt      the command lines that made and resumed the run
  log.txt          what the run chose and noted, line by line
  metrics.jsonl    one line of numbers per log window (and per evaluation)
  events.jsonl     the health events, one per line
  losses.png       the loss plot
  train.lock       held while a process trains in the folder
  checkpoints/     latest.pt, step_NNNNNNN.pt kept every train.checkpoint_every steps, best.pt
  samples/         step_NNNNNNN.png sample grids
  features/        own.pt, the run's own feature extractor for evaluation
  tensorboard/     TensorBoard's event files (train.logger=tensorboard)
  wandb/           wandb's files of the run (train.logger=wandb; offline runs wait here for `wandb sync`)
  rolled_back/     what a rollback set aside (runs/rollback.py)
  eval_*.json      results of `ganforge evaluate`; report.html, the run report
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

CONFIG, COMMAND, LOG = "config.json", "command.txt", "log.txt"
METRICS, EVENTS, LOSS_PLOT, LOCK = "metrics.jsonl", "events.jsonl", "losses.png", "train.lock"
REPORT, CLASSES = "report.html", "classes.json"
CHECKPOINTS, SAMPLES, FEATURES = "checkpoints", "samples", "features"
TENSORBOARD, WANDB, ROLLED_BACK = "tensorboard", "wandb", "rolled_back"
LATEST, BEST = "latest.pt", "best.pt"
STEP_FILE = re.compile(r"step_(\d+)\.pt")  # a kept checkpoint
GRID_FILE = re.compile(r"step_(\d+)\.png")  # a sample grid


def step_name(step: int, suffix: str = ".pt") -> str:
    """step_0001500.pt (a kept checkpoint) or, with suffix .png, the sample grid of that step."""
    return f"step_{step:07d}{suffix}"


@dataclass(frozen=True)
class RunLayout:
    """The paths of one run folder."""

    dir: Path

    @property
    def config(self) -> Path:
        return self.dir / CONFIG

    @property
    def classes(self) -> Path:
        return self.dir / CLASSES

    @property
    def command(self) -> Path:
        return self.dir / COMMAND

    @property
    def log(self) -> Path:
        return self.dir / LOG

    @property
    def metrics(self) -> Path:
        return self.dir / METRICS

    @property
    def events(self) -> Path:
        return self.dir / EVENTS

    @property
    def loss_plot(self) -> Path:
        return self.dir / LOSS_PLOT

    @property
    def lock(self) -> Path:
        return self.dir / LOCK

    @property
    def report(self) -> Path:
        return self.dir / REPORT

    @property
    def checkpoints(self) -> Path:
        return self.dir / CHECKPOINTS

    @property
    def latest(self) -> Path:
        return self.dir / CHECKPOINTS / LATEST

    @property
    def best(self) -> Path:
        return self.dir / CHECKPOINTS / BEST

    @property
    def samples(self) -> Path:
        return self.dir / SAMPLES

    @property
    def features(self) -> Path:
        return self.dir / FEATURES

    @property
    def tensorboard(self) -> Path:
        return self.dir / TENSORBOARD

    @property
    def wandb(self) -> Path:
        """Where wandb writes when its `dir` is the run folder (train/wandb_logger.py)."""
        return self.dir / WANDB

    @property
    def rolled_back(self) -> Path:
        return self.dir / ROLLED_BACK

    def grid(self, step: int) -> Path:
        return self.samples / step_name(step, ".png")

    def grids(self) -> list[Path]:
        return sorted(p for p in self.samples.glob("step_*.png") if GRID_FILE.fullmatch(p.name))

    @property
    def own_features(self) -> Path:
        """The run's own feature extractor for evaluation (metrics/features.py)."""
        return self.features / "own.pt"

    def eval_results(self, name: str) -> Path:
        return self.dir / f"eval_{name}.json"

    def eval_files(self) -> list[Path]:
        return sorted(self.dir.glob("eval_*.json"))

    def is_run(self) -> bool:
        return self.config.is_file() and self.checkpoints.is_dir()

    def read_files(self) -> list[Path]:
        """The files of the run that commands read (no command may write over them): its config, metrics,
        events, log, command, checkpoints and feature extractor."""
        named = [self.config, self.metrics, self.events, self.log, self.command]
        kept = [*self.checkpoints.glob("*"), *self.features.glob("*")]
        return [p for p in named if p.exists()] + sorted(kept)


def closest_pairs_path(results: Path) -> Path:
    """Where an evaluation's closest (generated, training) pairs go, beside its results file."""
    return results.with_name(f"{results.stem}_closest.png")
