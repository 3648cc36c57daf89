"""Evaluation during training, as a hook: every `eval.every` steps (and at the last step) the run's
generator is scored (metrics/generated.py; image-to-image runs on the val split, else test), the numbers
go into that step's line of metrics.jsonl as `eval_<metric>`, and checkpoints/best.pt keeps the whole
state at the best `eval.best_metric` so far.

The evaluation draws no numbers from the training's random streams, so a run with evaluation trains
exactly as one without it.
"""

from __future__ import annotations

import numpy as np
import torch

from ..errors import UserError
from ..inference.generator import Generator
from ..metrics.generated import PAIRED_METRICS, UNCONDITIONAL_METRICS, UPSCALE_METRICS, Evaluator, better
from ..runs.layout import BEST
from .hooks import HOOKS, Hook, TrainerView

TRAINING_PAIRS = (
    "the data have no held-out split (no train/, val/ or test/ folders), so the held-out images are the training ones"
)


class EvaluationWatch(Hook):
    def __init__(self, trainer: TrainerView):
        self.trainer, cfg = trainer, trainer.cfg
        names = {"unconditional": UNCONDITIONAL_METRICS, "upscale": UPSCALE_METRICS}.get(cfg.task, PAIRED_METRICS)
        if cfg.eval.best_metric not in names:
            raise UserError(
                f"eval.best_metric={cfg.eval.best_metric!r} is not measured for {cfg.task} runs; "
                f"choose one of {', '.join(names)}"
            )
        if cfg.eval.every % cfg.train.log_every:
            raise UserError(
                f"eval.every={cfg.eval.every} must be a multiple of train.log_every={cfg.train.log_every}, so that "
                "each evaluation lands on the line of its own step; change either"
            )
        self.metric = cfg.eval.best_metric
        self.evaluator = Evaluator(cfg, trainer.run_dir, cfg.eval.features, cfg.eval.images, trainer.device)
        self.evaluator.check(len(trainer.dataset))  # fails now, not after eval.every steps of training
        if cfg.task != "unconditional":
            self.evaluator.held_out("val", "test")  # the best checkpoint is chosen on val, where there is one
        self.best: float | None = None
        self.best_step: int | None = None

    def notes(self) -> list[str]:
        if self.trainer.cfg.task != "unconditional" and self.evaluator.scores_training_pairs():
            return [f"note: evaluation: {TRAINING_PAIRS}; its scores measure fit, not generalisation"]
        return []

    def after_step(self, step: int, metrics: dict[str, torch.Tensor]) -> None:
        t = self.trainer
        if step % t.cfg.eval.every and step != t.total_steps:
            return
        g = Generator(t.networks[t.contract.weights], t.cfg, t.device, t.contract)
        scores = self.evaluator.flat(self.evaluator(g))
        if not all(np.isfinite(list(scores.values()))):
            return
        t.monitor.record({f"eval_{k}": torch.tensor(v) for k, v in scores.items()})
        shown = "  ".join(f"{k} {v:.4g}" for k, v in scores.items())
        where = f", on {self.evaluator.split}" if t.cfg.task != "unconditional" else ""
        line = f"step {step}: {shown} ({self.evaluator.features} features{where})"
        value = scores.get(self.metric)
        if value is not None and better(self.metric, value, self.best):
            self.best, self.best_step = value, step
            t.save(BEST)
            line += f"; best {self.metric} so far: checkpoints/best.pt"
        t.monitor.note(line, console=False)

    def state_dict(self) -> dict:
        return {"best": self.best, "best_step": self.best_step}

    def load_state_dict(self, state: dict) -> None:
        self.best, self.best_step = state.get("best"), state.get("best_step")


def _evaluation(trainer: TrainerView) -> EvaluationWatch | None:
    every = trainer.cfg.eval.every
    if every < 0:
        raise UserError(f"eval.every={every} is negative; give 0 (no evaluation during training) or a step count")
    if every and trainer.world.size > 1:
        raise UserError(
            "eval.every is not supported with several processes yet; train without --eval-every, then run "
            "ganforge evaluate RUN_DIR"
        )
    return EvaluationWatch(trainer) if every else None


HOOKS.register("evaluation", _evaluation)
