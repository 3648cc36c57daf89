"""Values that ramp over a run, as R3GAN's configurations ramp them: the learning rates, Adam's beta2 and
the gamma of R1 and R2, each along a half cosine from its value at step 0 to its value at the last step;
and the strength of a conditional model's class, from 0 to 1 over the first `model.condition_ramp` of the
run (models/conditional.py).

`train.g_optim.lr_end` / `train.d_optim.lr_end`: the learning rate at the end, reached along
`lr_schedule` (auto: a half cosine where lr_end > 0, else constant; cosine; linear, CycleGAN's decay to 0)
after the first `lr_hold` of the run at `lr`; `beta2_start`:
Adam's beta2 at the start, rising to `beta2` (0: constant); `loss.penalty_end`: the gamma of R1 and R2 at
the end as a fraction of `loss.r1` and `loss.r2` (1: constant); `data.augment_p_end`, DiffAugment's
chance at the end (train/d_inputs.py ramps it, from the step it is given). Each is a function of the step
and the run's total steps alone, so that a resumed run takes the same values as an unbroken one. The hook
sets them before each step; a phase that runs lazily keeps its StyleGAN2 correction (learning rate times
the lazy ratio, beta2 to its power). Values the step reads from the device (a learning rate kept as a
tensor for a CUDA graph, the penalty's scale, the class strength) are written in place.
"""

from __future__ import annotations

from ..config import Config, OptimConfig
from ..models.conditional import ConditionalGenerator, ProjectionDiscriminator
from .hooks import HOOKS, Hook, TrainerView
from .optim import set_value
from .ramps import cosine, run_progress


def lr_shape(o: OptimConfig) -> str:
    """constant, cosine or linear: what `lr_schedule` (auto: cosine where lr_end is set) means for `o`."""
    if o.lr_schedule == "auto":
        return "cosine" if o.lr_end > 0 else "constant"
    return o.lr_schedule


def learning_rate(o: OptimConfig, progress: float) -> float:
    """The learning rate at `progress` (0 to 1) of the run: `lr` for the first `lr_hold` of it, then along
    the schedule's shape to `lr_end` at the last step."""
    shape = lr_shape(o)
    if shape == "constant":
        return o.lr
    along = max(0.0, progress - o.lr_hold) / (1.0 - o.lr_hold)
    if shape == "linear":
        return o.lr + (o.lr_end - o.lr) * min(along, 1.0)
    return cosine(o.lr, o.lr_end, along)


def beta2(o: OptimConfig, progress: float) -> float:
    return cosine(o.beta2_start, o.beta2, progress) if o.beta2_start > 0 else o.beta2


def penalty_scale(cfg: Config, progress: float) -> float:
    return cosine(1.0, cfg.loss.penalty_end, progress)


def condition_strength(cfg: Config, progress: float) -> float:
    ramp = cfg.model.condition_ramp
    return cosine(0.0, 1.0, progress / ramp) if ramp > 0 else 1.0


def _conditional(cfg: Config) -> bool:
    return cfg.conditional and cfg.model.condition_ramp > 0


def _augment_ramp(cfg: Config) -> bool:
    return bool(cfg.data.diffaugment) and cfg.data.augment_p_end >= 0


def beta2_ramped(cfg: Config) -> bool:
    """Whether Adam's beta2 ramps: a fused Adam takes it as a number, which a CUDA graph would freeze."""
    return any(o.beta2_start > 0 for o in (cfg.train.g_optim, cfg.train.d_optim))


def scheduled(cfg: Config) -> bool:
    """Whether any value of `cfg` ramps."""
    optims = (cfg.train.g_optim, cfg.train.d_optim)
    ramps = any(lr_shape(o) != "constant" or o.beta2_start > 0 for o in optims) or cfg.loss.penalty_end != 1.0
    return ramps or _conditional(cfg) or _augment_ramp(cfg)


def _path(o: OptimConfig) -> str:
    """How a learning rate gets to its end, for the log: nothing for the plain cosine."""
    hold = f" after {o.lr_hold:.0%}" if o.lr_hold else ""
    return f", {lr_shape(o)}{hold}" if lr_shape(o) != "cosine" or hold else ""


class Schedules(Hook):
    """Sets the ramped values for the step about to run (see the module doc)."""

    def __init__(self, trainer: TrainerView):
        self.trainer = trainer
        self._conditioned: list[ConditionalGenerator | ProjectionDiscriminator] | None = None

    def _class_modules(self) -> list[ConditionalGenerator | ProjectionDiscriminator]:
        """The modules whose class strength ramps, found once (the trainer's networks exist by the first step)."""
        if self._conditioned is None:
            kinds = (ConditionalGenerator, ProjectionDiscriminator)
            nets = self.trainer.networks.values()
            self._conditioned = [m for net in nets for m in net.modules() if isinstance(m, kinds)]
        return self._conditioned

    def before_step(self, step: int) -> None:
        t = self.trainer
        progress = run_progress(step, t.total_steps)
        for name, o in (("g", t.cfg.train.g_optim), ("d", t.cfg.train.d_optim)):
            ratio = t.objective.lazy_ratio(name)
            for group in t.optimizers[name].optimizer.param_groups:
                set_value(group, "lr", learning_rate(o, progress) * ratio)
                if "betas" in group:
                    group["betas"] = (group["betas"][0], beta2(o, progress) ** ratio)
        t.objective.penalty_scale.fill_(penalty_scale(t.cfg, progress))
        if _conditional(t.cfg):
            strength = condition_strength(t.cfg, progress)
            for m in self._class_modules():
                m.strength.fill_(strength)

    def notes(self) -> list[str]:
        c = self.trainer.cfg
        g, d = c.train.g_optim, c.train.d_optim
        parts = [f"lr {o.lr:g} -> {learning_rate(o, 1):g} ({n}{_path(o)})" for n, o in (("G", g), ("D", d))
                 if lr_shape(o) != "constant"]  # fmt: skip
        parts += [f"beta2 {o.beta2_start:g} -> {o.beta2:g} ({n})" for n, o in (("G", g), ("D", d)) if o.beta2_start]
        if c.loss.penalty_end != 1.0:
            parts.append(f"R1/R2 gamma x1 -> x{c.loss.penalty_end:g}")
        if _augment_ramp(c):
            parts.append(f"DiffAugment's chance {c.data.augment_p:g} -> {c.data.augment_p_end:g}")
        if _conditional(c):
            parts.append(f"the class fades in over the first {c.model.condition_ramp:.0%} of the run")
        return [f"schedules over {self.trainer.total_steps} steps (cosine unless said): " + ", ".join(parts)]


HOOKS.register("schedules", lambda trainer: Schedules(trainer) if scheduled(trainer.cfg) else None)
