"""The one training loop of ganforge, for every model family.

It runs the objective's phases (objective.py) and steps each phase's optimiser, and owns the run around
them: the run directory, metrics, sample grids, checkpoints and resume. What a loss is, it does not know;
what a checkpoint holds, the state components say (state.py).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import torch

from ..config import Config, unused_settings
from ..data import build_dataset, labelled_for
from ..data.labels import Labelled
from ..errors import TrainingStopped, UserError
from ..files import atomic_write
from ..models import build_models, family_of, inference_contract
from ..report.grid import save_grid
from ..runs.checkpoint import resume_point, save_checkpoint
from ..runs.layout import LATEST, RunLayout, step_name
from ..runs.run import Run, save_config
from . import ema, evaluation, mlflow_logger, schedules, tensorboard, wandb_logger, watchers  # noqa: F401  (hooks)
from . import upscale as _upscale  # noqa: F401  (registers the upscale task)
from .cycle import CycleObjective
from .data_stream import BatchStream
from .graphs import GraphedStep, unsupported
from .hooks import Stop, build_hooks
from .init_from import freeze_first_layers, initialise
from .monitor import Monitor
from .objective import GANObjective, Metrics, Phase
from .optim import NetOptimizer
from .runtime import Runtime, seed_everything
from .state import Progress, RandomStreams, TrainingState, Value
from .stopping import InterruptFlag, StepAbandoned, TimeBudget
from .tasks import build_task


class Trainer:
    """Builds everything a run needs from its config, then `fit()` trains it to its total steps."""

    def __init__(
        self,
        cfg: Config,
        run_dir: Path,
        resume: bool = False,
        quiet: bool = False,
        runtime: Runtime | None = None,
        start: tuple[Path, dict[str, Any], list[str]] | None = None,
    ):
        """`resume`: go on from the newest whole checkpoint of `run_dir`, or from `start` (the checkpoint,
        its state and notes on why it was chosen; checkpoint.resume_point)."""
        self.cfg, self.run_dir, self.quiet = cfg, Path(run_dir), quiet
        self.layout = RunLayout(self.run_dir)
        self.runtime = runtime or Runtime.from_config(cfg)
        self.no_graph_reason = unsupported(cfg, self.runtime) if cfg.train.cuda_graphs else None
        if self.no_graph_reason:
            self.runtime = self.runtime.eager(cfg.train)
        self.device = self.runtime.device
        self.runtime.configure_backends()
        self.world = self.runtime.world
        seed_everything(cfg.train.seed + self.world.rank, self.device)  # each process its own noise
        family = family_of(cfg)
        self.dataset = build_dataset(cfg, "train")  # images (or pairs), as hooks and evaluation read them
        # what the steps read: a conditional run's batches are (images, labels)
        self.train_data = labelled_for(cfg, self.dataset) if cfg.conditional else self.dataset
        self.task = build_task(cfg, self.dataset)
        self.g, self.d = (self.runtime.prepare(m) for m in build_models(cfg))
        self.nets = {"g": self.g, "d": self.d}
        init_note = [initialise(cfg, self.nets)] if cfg.train.init_from and not resume else []
        self._params = {"g": list(self.g.parameters()), "d": freeze_first_layers(self.d, cfg.train.freeze_d)}
        self.parallel = {name: self.runtime.parallel(net) for name, net in self.nets.items()}
        self._trained: dict[str, bool] = {}
        objective = CycleObjective if cfg.task == "unpaired" else GANObjective  # one loop for both
        self.objective = objective(cfg, self.task, self.g, self.d)
        self.optimizers = {
            name: NetOptimizer(net, o, self.objective.lazy_ratio(name), self.runtime.grad_scaler())
            for (name, net), o in zip(self.nets.items(), (cfg.train.g_optim, cfg.train.d_optim), strict=True)
        }
        self.contract = inference_contract(cfg)
        self.stop: Stop | None = None
        self.progress = Progress()
        self.fixed = Value(self.task.fixed_inputs())
        self.monitor = Monitor(
            self.run_dir, cfg.train.batch_size, cfg.train.log_every, self.objective.chance,
            quiet or not self.world.is_main, self.runtime,
        )  # fmt: skip
        self.hooks = build_hooks(self)
        self.graphed: GraphedStep | None = None
        if cfg.train.cuda_graphs and not self.no_graph_reason:
            self.graphed = GraphedStep(self.step_on, self.monitor.note, self.objective.graph_ready)
        self.networks = {**self.nets, **{k: v for hook in self.hooks.values() for k, v in hook.networks().items()}}

        self.state = TrainingState()
        for name, component in {
            **self.networks,
            "opt_g": self.optimizers["g"],
            "opt_d": self.optimizers["d"],
            "sched_g": self.optimizers["g"].schedule,
            "sched_d": self.optimizers["d"].schedule,
            "rng": RandomStreams(cfg.train.seed, self.world),
            "fixed": self.fixed,
            "progress": self.progress,
            "monitor": self.monitor,
            **self.objective.components(),
        }.items():
            self.state.add(name, component)
        for name, optimizer in self.optimizers.items():  # loss scalers came later than some runs
            self.state.add(f"scaler_{name}", optimizer.scaler, optional=True)
        self.budget = self.state.add("clock", TimeBudget(cfg.train.max_minutes), optional=True)  # came later too
        for name, hook in self.hooks.items():  # hooks came later than some runs: their state may be absent
            if hasattr(hook, "state_dict"):
                self.state.add(name, hook, optional=True)
        self.start_notes: list[str] = init_note
        if resume and start is None:
            start = resume_point(self.run_dir)
        # a run stopped before its first checkpoint (a kill or Ctrl-C while starting) starts again from step 0
        self.restarted = resume and start is None
        if start is not None:
            source, saved, self.start_notes = start
            self.state.load_state_dict(saved, source, cfg.to_dict())
        self.saved_step: int | None = self.progress.step if start is not None else None
        self.interrupt = InterruptFlag(abandon=self.world.size == 1)
        for optimizer in self.optimizers.values():  # a graph's optimisers keep their step counts on the device
            optimizer.capturable(self.graphed is not None)

        t = cfg.train
        self.stream = BatchStream(
            self.train_data, self.runtime.share(t.batch_size), t.seed, self.runtime, self.progress.batches,
            cfg.data.num_workers, self.world.rank, self.world.size, cfg.data.resident_mib,
        )  # fmt: skip
        self.monitor.waited = self.stream.waited
        self.batches_per_epoch = self.stream.batches_per_epoch
        per_step = self.objective.batches_per_step
        self.total_steps = (
            cfg.train.epochs * self.batches_per_epoch // per_step if cfg.train.epochs else cfg.train.steps
        )
        if self.progress.step > self.total_steps:
            total = f"{cfg.train.epochs} epochs ({self.total_steps} steps)" if cfg.train.epochs else self.total_steps
            raise UserError(
                f"the run is at step {self.progress.step} and its new total is {total}; --steps and --epochs give "
                f"the new total: give more than {self.progress.step} steps"
            )
        self.budget.check_left(self.run_dir)
        # Read the first batch before writing anything, so that unreadable data leaves no half-made run.
        self._first_batch = next(self.stream)
        if not resume and self.world.is_main:
            save_config(cfg, self.run_dir)
            if isinstance(self.train_data, Labelled):
                atomic_write(self.layout.classes, json.dumps(self.train_data.class_names) + "\n")
        runtime = self.runtime.describe() + (", CUDA graphs" if self.graphed else "")
        task = "class-conditional" if cfg.conditional else family.task
        self.intro = f"{family.name} ({task}) on {self.train_data.describe()}; {runtime}"

    def next_batch(self) -> Any:
        """The next batch from the data, on the device."""
        self.progress.batches += 1
        batch, self._first_batch = self._first_batch, None
        return batch if batch is not None else next(self.stream)

    def next_inputs(self) -> Any:
        """The next batch from the data, prepared by the objective for its phases."""
        return self.objective.prepare(self.next_batch())

    def request_stop(self, stop: Stop) -> None:
        """Stop after the current step (a hook's event, or weights that are no longer finite)."""
        self.stop = self.stop or stop

    def train_step(self) -> Metrics:
        """One step: the values it reads set for it (the hooks' ramps, the objective's), then each due
        phase, with the networks it goes through but does not train frozen (replayed as one CUDA graph with
        `train.cuda_graphs`), then the learning-rate decays advanced. Returns detached metrics."""
        for hook in self.hooks.values():  # outside a graph: what they set, the graph reads on the device
            hook.before_step(self.progress.step)
        self.objective.set_step(self.progress.step, self.total_steps)
        metrics = (self.graphed or self.step_on)(self.next_batch())
        for optimizer in self.optimizers.values():
            optimizer.advance()
        return metrics

    def step_on(self, batch: Any) -> Metrics:
        """The step of `train_step` on `batch` (phases that repeat draw further batches)."""
        inputs = self.objective.prepare(batch)
        metrics: Metrics = {}
        for phase in self.objective.phases:
            if self.progress.step % phase.interval:
                continue
            for name in self.nets:
                self._train(name, name not in phase.frozen)
            # a network the phase goes through without training it is called plain: nothing to synchronise
            self.objective.use(**{n: self.nets[n] if n in phase.frozen else self.parallel[n] for n in self.nets})
            runs = []
            for repeat in range(phase.repeats):
                self.interrupt.check_abandon()  # a stop request may end a long step between its phases
                if repeat:
                    inputs = self.next_inputs()
                runs.append(self._optimise(phase, inputs))
            metrics |= runs[0] if len(runs) == 1 else {k: torch.stack([r[k] for r in runs]).mean() for k in runs[0]}
        for name in self.nets:  # between steps every network is trainable
            self._train(name, True)
        return metrics

    def _train(self, name: str, trained: bool) -> None:
        """Whether the weights of network `name` get gradients (set only when it changes)."""
        if self._trained.get(name) != trained:
            for p in self._params[name]:
                p.requires_grad_(trained)
            self._trained[name] = trained

    def _optimise(self, phase: Phase, inputs: Any) -> Metrics:
        with self.runtime.autocast(cache=self.graphed is None):
            loss, metrics = self.objective(phase, inputs)
        optimizer = self.optimizers[phase.net]
        optimizer.zero_grad()
        optimizer.backward(loss)
        # gradient norms cost a pass over all gradients: measured at the last step of each read window
        last_of_window = (self.progress.step + 1) % self.monitor.read_every == 0
        norm = optimizer.step(measure=last_of_window or self.graphed is not None)  # a graph measures each step
        if norm is not None:
            metrics[f"grad_norm_{phase.name}"] = norm
        for hook in self.hooks.values():
            hook.after_phase(phase)
        return metrics

    def fit(self) -> Run:
        cfg, monitor = self.cfg, self.monitor
        monitor.start(self.progress.step, self.total_steps)
        if self.restarted:
            monitor.note("this run never saved a checkpoint: it starts again from step 0")
        for note in self.start_notes:
            monitor.note(note)
        monitor.note(f"{'resumed' if self.progress.step else 'training'} {self.intro}")
        if self.no_graph_reason:
            monitor.note(f"note: train.cuda_graphs is off for this run: {self.no_graph_reason}")
        hooks = [line for hook in self.hooks.values() for line in hook.notes()]
        for note in [*unused_settings(cfg), *self.dataset.notes(), *self.objective.notes(), *hooks]:
            monitor.note(note)
        interrupted = self.interrupt
        t0 = time.perf_counter()
        for net in self.nets.values():
            net.train()
        if self.progress.step == 0:
            self.save()  # a good checkpoint to fall back on, whatever happens next
        first_step, started = self.progress.step, time.perf_counter()
        abandoned = out_of_time = False
        self.budget.start()
        try:
            with interrupted:
                while self.progress.step < self.total_steps and not self._interrupted(interrupted) and not self.stop:
                    try:
                        metrics = self.train_step()
                    except StepAbandoned:
                        abandoned = True
                        break
                    if self.runtime.compile and self.progress.step == first_step:  # apart from the steady state
                        monitor.note(f"first step, compiling the networks: {time.perf_counter() - started:.1f} s")
                    monitor.update(metrics)
                    self.progress.step += 1
                    step = self.progress.step
                    for hook in self.hooks.values():
                        hook.after_step(step, metrics)
                    if step % cfg.train.log_every == 0:
                        self._deliver(monitor.flush(step, self.epoch))
                        out_of_time = self.budget.minutes > 0 and self._agreed(self.budget.exhausted())
                    if self.stop:
                        break
                    if step % cfg.train.sample_every == 0 or step == self.total_steps or out_of_time:
                        self.save_samples()
                        monitor.plot()
                    if step % cfg.train.checkpoint_every == 0:
                        self.save(LATEST, step_name(step))
                    if out_of_time:
                        break
        finally:
            self.stream.close()
            self._deliver(monitor.flush(self.progress.step, self.epoch, final=True))
            monitor.close()
        if abandoned:
            last = "no checkpoint" if self.saved_step is None else f"the checkpoint of step {self.saved_step}"
            text = f"stopped during step {self.progress.step + 1}, between its phases; nothing saved since {last}"
            monitor.note(text)
            raise KeyboardInterrupt(f"{text}; resume with: ganforge train --resume {self.run_dir}")
        if not (self.stop and not self.stop.save):
            self.save()
        monitor.plot()
        if self.stop:
            for hook in self.hooks.values():
                hook.on_stop(self.stop)
            monitor.note(f"stopped at step {self.progress.step}")
            raise TrainingStopped(self.stop.message)
        if interrupted.raised:
            monitor.note(f"stopped at step {self.progress.step}")
            raise KeyboardInterrupt(
                f"stopped at step {self.progress.step}; resume with: ganforge train --resume {self.run_dir}"
            )
        if out_of_time and self.progress.step < self.total_steps:
            monitor.note(
                f"time budget reached: train.max_minutes={cfg.train.max_minutes:g} at step {self.progress.step} of "
                f"{self.total_steps}; go on with: ganforge train --resume {self.run_dir} --minutes M (M > "
                f"{cfg.train.max_minutes:g})"
            )
        monitor.note(f"trained to step {self.progress.step} in {time.perf_counter() - t0:.0f} s")
        return Run(self.run_dir, cfg, self.progress.step, main=self.world.is_main)

    def _deliver(self, rows: list[dict]) -> None:
        """Hand the metrics lines read back to the hooks, each at its own step."""
        for row in rows:
            for hook in self.hooks.values():
                hook.after_log(row["step"], row)

    def _agreed(self, flag: bool) -> bool:
        """True on every process if it is true on any (asked at log steps, so all stop after the same step)."""
        if self.world.size == 1:
            return flag
        return bool(self.runtime.mean_across(torch.tensor(float(flag), device=self.device)) > 0)

    def _interrupted(self, flag: InterruptFlag) -> bool:
        """Ctrl-C or SIGTERM seen; with several processes, agreed at log steps (any process's signal stops
        all of them after the same step)."""
        if self.world.size == 1:
            return flag.raised
        if self.progress.step % self.cfg.train.log_every:
            return False
        flag.raised = self._agreed(flag.raised)
        return flag.raised

    @property
    def epoch(self) -> float:
        return self.progress.batches / self.batches_per_epoch

    def _finite(self) -> bool:
        """Whether every weight and buffer of the networks is finite and no hook saw a NaN (one read-back
        from the device); if not, the run stops without writing."""
        flags = [torch.isfinite(t).all() for net in self.networks.values() for t in net.state_dict().values()]
        healthy = torch.stack(flags).all() & all(hook.healthy() for hook in self.hooks.values())
        # decided together: the processes that go on to a collective (a checkpoint's) must all go on
        if bool(self.runtime.mean_across(healthy.float()) == 1):
            return True
        latest = self.layout.latest
        self.request_stop(
            Stop(
                "nonfinite",
                f"[nonfinite] step {self.progress.step}: NaN or Inf in the losses or weights; {latest} is the "
                "last good checkpoint. Lower the learning rates or clip gradients (train.g_optim.clip_value)",
                save=False,
            )
        )
        return False

    def save_samples(self) -> Path | None:
        if not self._finite():
            return None
        if not self.world.is_main:
            return None
        images, nrow = self.task.sample_grid(self.networks[self.contract.weights], self.contract, self.fixed.value)
        path = self.layout.grid(self.progress.step)
        if self.monitor.attempt(path, lambda: save_grid(images, path, nrow)):
            for hook in self.hooks.values():
                hook.after_samples(self.progress.step, images, nrow)
            return path
        return None

    def save(self, *names: str) -> None:
        """Write the whole state to checkpoints/latest.pt, or to each file named (a kept step_*.pt, the
        evaluation's best.pt): never weights that are not finite."""
        self._deliver(self.monitor.drain())  # a checkpoint holds no line that is not written yet
        if not self._finite():
            return
        state = {"step": self.progress.step, "config": self.cfg.to_dict(), **self.state.state_dict()}
        if not self.world.is_main:  # the state_dict gathered each process's random streams
            return
        self.monitor.sync()  # the lines this checkpoint counts as written are on the disk before it
        for name in names or (LATEST,):
            path = self.layout.checkpoints / name
            try:
                save_checkpoint(path, state)
            except OSError as e:  # a full disk: the previous file is whole, training goes on
                self.monitor.note(f"could not write {path} ({e.strerror or e}); the previous checkpoint is kept")
                continue
            if name == LATEST:
                self.saved_step = self.progress.step
