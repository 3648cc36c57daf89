"""Evaluation during training, as a hook: every `eval.every` steps (and at the last step) the run's
generator is scored (metrics/generated.py; image-to-image runs on the val split, else test), the numbers
go into that step's line of metrics.jsonl as `eval_<metric>`, and checkpoints/best.pt keeps the whole
state at the best `eval.best_metric` so far.

The evaluation draws no numbers from the training's random streams, so a run with evaluation trains
exactly as one without it.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING

import numpy as np
import torch

from ..errors import UserError
from ..metrics.generated import PAIRED_METRICS, UNCONDITIONAL_METRICS, Evaluator, better
from .hooks import HOOKS, Hook

if TYPE_CHECKING:
    from .loop import Trainer


class EvaluationWatch(Hook):
    def __init__(self, trainer: Trainer):
        self.trainer, cfg = trainer, trainer.cfg
        names = UNCONDITIONAL_METRICS if cfg.task == "unconditional" else PAIRED_METRICS
        if cfg.eval.best_metric not in names:
            raise UserError(
                f"eval.best_metric={cfg.eval.best_metric!r} is not measured for {cfg.task} runs; "
                f"choose one of {', '.join(names)}"
            )
        self.metric = cfg.eval.best_metric
        if cfg.task == "unconditional" and cfg.eval.images < 10:
            raise UserError(f"eval.images={cfg.eval.images} is too few for the distribution metrics; give 10 or more")
        self.evaluator = Evaluator(cfg, trainer.run_dir, cfg.eval.features, cfg.eval.images, trainer.device)
        if cfg.task == "paired":
            self.evaluator.held_out("val", "test")  # the best checkpoint is chosen on val, where there is one
        self.best: float | None = None
        self.best_step: int | None = None

    def after_step(self, step: int, metrics: dict[str, torch.Tensor]) -> None:
        from ..api import Generator

        t = self.trainer
        if step % t.cfg.eval.every and step != t.total_steps:
            return
        g = Generator(t.networks[t.contract.weights], t.cfg, t.device, t.contract)
        numpy_state, python_state = np.random.get_state(), random.getstate()
        try:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(t.cfg.train.seed)
                scores = self.evaluator.flat(self.evaluator(g))
        finally:
            np.random.set_state(numpy_state)
            random.setstate(python_state)
        if not all(np.isfinite(list(scores.values()))):
            return
        t.monitor.record({f"eval_{k}": torch.tensor(v) for k, v in scores.items()})
        shown = "  ".join(f"{k} {v:.4g}" for k, v in scores.items())
        where = f", on {self.evaluator.split}" if t.cfg.task == "paired" else ""
        line = f"step {step}: {shown} ({self.evaluator.features} features{where})"
        value = scores.get(self.metric)
        if value is not None and better(self.metric, value, self.best):
            self.best, self.best_step = value, step
            t.save("best.pt")
            line += f"; best {self.metric} so far: checkpoints/best.pt"
        t.monitor.note(line, console=False)

    def state_dict(self) -> dict:
        return {"best": self.best, "best_step": self.best_step}

    def load_state_dict(self, state: dict) -> None:
        self.best, self.best_step = state.get("best"), state.get("best_step")


HOOKS.register("evaluation", lambda trainer: EvaluationWatch(trainer) if trainer.cfg.eval.every > 0 else None)
