"""The hooks that watch a run: its samples (diversity, modes, near-copies) and its health events (detector.py)."""

from __future__ import annotations

from typing import Any

import torch

from ..detector import ADVICE, Event, detector_for
from ..jsonio import append_line, read_lines, write_lines
from ..metrics.diversity import BINS, DiversityProbe, pooled_pixels
from ..metrics.memorisation import NearestTraining
from .hooks import HOOKS, Hook, Stop, TrainerView
from .tasks import UnconditionalTask

# real images the diversity probe's cells are fitted on, and each sample is compared with for near-copies (the
# images are held whole while the watch starts: more would cost memory at large image sizes)
PROBE_REALS = 1000


class SampleWatch(Hook):
    """At each sample step, `health.diversity_samples` images from fixed noise, scored against the real data:
    `diversity`, `ndb` and `mode_imbalance` (metrics/diversity.py; data sets of 40 images or more) and
    `near_copies` (metrics/memorisation.py, in pixel features: no extractor to train, so a set of a few images
    is watched too) go into that step's line of metrics.jsonl."""

    def __init__(self, trainer: TrainerView):
        self.trainer, cfg = trainer, trainer.cfg
        data = trainer.dataset
        order = torch.randperm(len(data), generator=torch.Generator().manual_seed(cfg.train.seed))
        reals = torch.stack([data[int(i)] for i in order[:PROBE_REALS]])
        self.probe = DiversityProbe(reals, seed=cfg.train.seed) if len(reals) >= 2 * BINS else None
        self.train_features = pooled_pixels(reals).double()
        noise_stream = torch.Generator().manual_seed(cfg.train.seed + 1)
        self.noise = UnconditionalTask.noise(cfg, cfg.health.diversity_samples, noise_stream)

    def after_step(self, step: int, metrics: dict[str, torch.Tensor]) -> None:
        t = self.trainer
        if step % t.cfg.train.sample_every and step != t.total_steps:
            return
        images = t.contract.run(t.networks[t.contract.weights], self.noise)
        if not bool(torch.isfinite(images).all()):
            return
        scores = self.probe(images) if self.probe is not None else {}
        nearest = NearestTraining(self.train_features, shown=0)
        nearest.add(pooled_pixels(images.cpu()).double())
        scores["near_copies"] = nearest.result()["near_copies"]
        t.monitor.record({k: torch.tensor(v) for k, v in scores.items()})


def _sample_watch(trainer: TrainerView) -> SampleWatch | None:
    cfg = trainer.cfg
    if cfg.task != "unconditional" or cfg.health.diversity_samples <= 0 or len(trainer.dataset) < 2:
        return None
    return SampleWatch(trainer)


class HealthWatch(Hook):
    """Feeds each metrics line to the detector; events go to events.jsonl and above the progress bar, and
    those in `health.stop_on` (always `nonfinite`) stop the run. A NaN is found on the device at every
    step (no read-back), so the event names the first step that had one."""

    def __init__(self, trainer: TrainerView):
        self.trainer, cfg = trainer, trainer.cfg
        self.detector = detector_for(cfg)  # told the run's length at each line (not known yet here)
        self.stop_on = {"nonfinite"} | {k.strip() for k in cfg.health.stop_on.split(",") if k.strip()}
        self.path = trainer.layout.events
        self.first_bad = torch.tensor(-1, device=trainer.device)
        self.resumed_at: int | None = None

    def after_step(self, step: int, metrics: dict[str, torch.Tensor]) -> None:
        if metrics:
            bad = ~torch.isfinite(torch.stack([v.float() for v in metrics.values()])).all()
            self.first_bad = torch.where(bad & (self.first_bad < 0), step, self.first_bad)

    def after_log(self, step: int, row: dict[str, Any] | None) -> None:
        self._forget_after_resume()
        self.detector.run_length(self.trainer.total_steps)  # a resume may have raised it
        for event in self.detector.feed(row) if row else []:
            if event.kind == "nonfinite" and int(self.first_bad) >= 0:
                event.message += f" (first at step {int(self.first_bad)})"
            self.emit(event)

    def healthy(self) -> bool:
        return int(self.first_bad) < 0

    def on_stop(self, stop: Stop) -> None:
        if stop.kind == "nonfinite" and "nonfinite" not in self.detector.active:
            step, text = self.trainer.progress.step, "NaN or Inf in the losses or weights"
            if int(self.first_bad) >= 0:
                text += f" (first at step {int(self.first_bad)})"
            self.emit(Event(step, "nonfinite", text, ADVICE["nonfinite"]), stopping=False)

    def emit(self, event: Event, stopping: bool = True) -> None:
        """events.jsonl and log.txt; the console too, unless the run stops on it (the CLI prints that)."""
        self._forget_after_resume()
        if self.trainer.world.is_main:
            self.trainer.monitor.attempt(self.path, lambda: append_line(self.path, event.to_dict()))
        stops = stopping and event.kind in self.stop_on
        self.trainer.monitor.note(event.line(), console=not stops and stopping)
        if stops:
            self.trainer.request_stop(Stop(event.kind, event.line(), save=event.kind != "nonfinite"))

    def _forget_after_resume(self) -> None:
        """Drop the events after the checkpoint a resumed run started from: it finds them again."""
        if self.resumed_at is not None:
            kept = [e for e in read_lines(self.path, key="step") if e["step"] <= self.resumed_at]
            if self.path.exists() and self.trainer.world.is_main:
                write_lines(self.path, kept)
            self.resumed_at = None

    def state_dict(self) -> dict:
        return {"step": self.trainer.progress.step, "detector": self.detector.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.detector.load_state_dict(state["detector"])
        self.resumed_at = int(state["step"])


HOOKS.register("samples", _sample_watch)
HOOKS.register("health", HealthWatch)

__all__ = ["HealthWatch", "SampleWatch"]
