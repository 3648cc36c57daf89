"""The one training loop of ganforge: the two-phase GAN step of seed 004, for every model family.

Phase 1 trains the discriminator on a real batch and an equal batch of fakes. Phase 2 trains the
generator on fresh fakes labelled real, with the discriminator's weights frozen (no gradients are
kept for them). A task (`tasks.py`) supplies what differs between families; this file owns the rest:
optimisers, the run directory, metrics, sample grids, checkpoints and resume.
"""

from __future__ import annotations

import signal
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from ..config import Config, OptimConfig, load_config
from ..data import build_dataset
from ..errors import UserError
from ..losses import d_loss_parts, g_loss
from ..models import build_models
from ..report.grid import save_grid
from .checkpoint import load_checkpoint, rng_state, save_checkpoint, set_rng_state
from .data_stream import BatchStream
from .monitor import Monitor
from .tasks import PairedTask, UnconditionalTask


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"device {name!r} asked for, but CUDA is not available here; use --device cpu or auto")
    try:
        return torch.device(name)
    except RuntimeError:
        raise UserError(f"unknown device {name!r}; use auto, cpu, cuda or cuda:N") from None


def build_optimizer(params, o: OptimConfig) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LambdaLR]:
    """The optimiser and its Keras-style inverse-time learning-rate decay (identity when lr_decay is 0)."""
    if o.name == "adam":
        opt: torch.optim.Optimizer = torch.optim.Adam(params, lr=o.lr, betas=(o.beta1, o.beta2), eps=o.eps)
    else:
        opt = torch.optim.RMSprop(params, lr=o.lr, alpha=o.rho, eps=o.eps)
    decay = o.lr_decay
    return opt, torch.optim.lr_scheduler.LambdaLR(opt, lambda step: 1.0 / (1.0 + decay * step))


def build_task(cfg: Config, dataset):
    if cfg.task == "unconditional":
        return UnconditionalTask(cfg)
    return PairedTask(cfg, dataset)


@dataclass
class Run:
    """A run directory: config.json, metrics.jsonl, samples/, checkpoints/, losses.png."""

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
        from ..report.plots import read_metrics

        return read_metrics(self.dir / "metrics.jsonl")


def is_run_dir(path: Path) -> bool:
    return (path / "config.json").is_file() and (path / "checkpoints").is_dir()


class Trainer:
    """Builds everything a run needs from its config, then `fit()` trains it to `train.steps`."""

    def __init__(self, cfg: Config, run_dir: Path, resume: bool = False, quiet: bool = False):
        self.cfg, self.run_dir, self.quiet = cfg, Path(run_dir), quiet
        self.device = resolve_device(cfg.train.device)
        torch.manual_seed(cfg.train.seed)
        if self.device.type == "cuda":
            torch.cuda.manual_seed_all(cfg.train.seed)

        self.dataset = build_dataset(cfg, "train")
        self.task = build_task(cfg, self.dataset)
        self.g, self.d = (m.to(self.device) for m in build_models(cfg))
        self.opt_g, self.sched_g = build_optimizer(self.g.parameters(), cfg.train.g_optim)
        self.opt_d, self.sched_d = build_optimizer(self.d.parameters(), cfg.train.d_optim)
        self.fixed = self.task.fixed_inputs(self.dataset, cfg.train.seed)
        self.step = 0
        if resume:
            self._restore(load_checkpoint(self.run_dir / "checkpoints" / "latest.pt"))
        self.stream = BatchStream(
            self.dataset,
            cfg.train.batch_size,
            cfg.train.seed,
            self.device,
            start_batch=self.step,
            num_workers=cfg.data.num_workers,
        )
        per_epoch = self.stream.batches_per_epoch
        self.total_steps = cfg.train.epochs * per_epoch if cfg.train.epochs > 0 else cfg.train.steps
        # Read the first batch before writing anything, so that unreadable data leaves no half-made run.
        self._next_batch = next(self.stream)
        if not resume:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            cfg.save(self.run_dir / "config.json")

    # ------------------------------------------------------------------------------------- the GAN step

    def train_step(self, batch) -> dict[str, torch.Tensor]:
        """One two-phase step (seed 004). Returns detached metrics, still on the device."""
        cfg, task, g, d = self.cfg, self.task, self.g, self.d
        cond, real = task.split(batch)
        n = real.shape[0]

        # Phase 1: the discriminator learns reals (label 1) from an equal batch of fakes (label 0).
        with torch.no_grad():
            fake = task.generate(g, cond, n, self.device)
        real_logits = task.discriminate(d, cond, real)
        fake_logits = task.discriminate(d, cond, fake)
        d_real, d_fake = d_loss_parts(cfg.loss.gan, real_logits, fake_logits)
        d_loss = 0.5 * (d_real + d_fake)
        self.opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        self._clip(d, cfg.train.d_optim)
        self.opt_d.step()
        self.sched_d.step()

        # Phase 2: the generator learns to make fresh fakes that the frozen discriminator calls real.
        d.requires_grad_(False)
        fake = task.generate(g, cond, n, self.device)
        g_gan = g_loss(cfg.loss.gan, task.discriminate(d, cond, fake))
        recon = task.reconstruction_losses(fake, real, cond)
        g_total = cfg.loss.gan_weight * g_gan + sum(getattr(cfg.loss, k) * v for k, v in recon.items())
        self.opt_g.zero_grad(set_to_none=True)
        g_total.backward()
        self._clip(g, cfg.train.g_optim)
        self.opt_g.step()
        self.sched_g.step()
        d.requires_grad_(True)

        metrics = {
            "d_loss": d_loss,
            "d_loss_real": d_real,
            "d_loss_fake": d_fake,
            "g_loss": g_total,
            "g_gan": g_gan,
            "D_x": torch.sigmoid(real_logits.detach().float()).mean(),
            "D_G_z": torch.sigmoid(fake_logits.detach().float()).mean(),
        }
        metrics.update({f"g_{k}": v for k, v in recon.items()})
        return {k: v.detach() for k, v in metrics.items()}

    @staticmethod
    def _clip(net: nn.Module, o: OptimConfig) -> None:
        if o.clip_value > 0:
            nn.utils.clip_grad_value_(net.parameters(), o.clip_value)

    # ------------------------------------------------------------------------------------------ the loop

    def fit(self) -> Run:
        cfg = self.cfg
        monitor = Monitor(self.run_dir, self.total_steps, self.step, cfg.train.batch_size, self.quiet)
        interrupted = _InterruptFlag()
        self.g.train()
        self.d.train()
        t0 = time.perf_counter()
        try:
            with interrupted:
                while self.step < self.total_steps and not interrupted.raised:
                    batch, self._next_batch = self._next_batch, None
                    monitor.update(self.train_step(batch if batch is not None else next(self.stream)))
                    self.step += 1
                    last = self.step == self.total_steps
                    if self.step % cfg.train.log_every == 0 or last:
                        monitor.flush(self.step, self.step / self.stream.batches_per_epoch)
                    if self.step % cfg.train.sample_every == 0 or last:
                        self.save_samples()
                        monitor.plot()
                    if self.step % cfg.train.checkpoint_every == 0:
                        self.save(keep=True)
        finally:
            monitor.flush(self.step, self.step / self.stream.batches_per_epoch)
            monitor.close()
        self.save(keep=False)
        monitor.plot()
        if interrupted.raised:
            raise KeyboardInterrupt(f"stopped at step {self.step}; resume with: ganforge train --resume {self.run_dir}")
        if not self.quiet:
            seconds = time.perf_counter() - t0
            print(f"trained {self.run_dir} to step {self.step} in {seconds:.0f} s")
        return Run(self.run_dir, cfg, self.step)

    def save_samples(self) -> Path:
        self.g.eval()
        with torch.no_grad():
            images, nrow = self.task.sample_grid(self.g, self.fixed, self.device)
        self.g.train()
        return save_grid(images, self.run_dir / "samples" / f"step_{self.step:07d}.png", nrow)

    def save(self, keep: bool) -> None:
        state = {
            "step": self.step,
            "g": self.g.state_dict(),
            "d": self.d.state_dict(),
            "opt_g": self.opt_g.state_dict(),
            "opt_d": self.opt_d.state_dict(),
            "sched_g": self.sched_g.state_dict(),
            "sched_d": self.sched_d.state_dict(),
            "rng": rng_state(),
            "fixed": self.fixed,
            "config": self.cfg.to_dict(),
        }
        folder = self.run_dir / "checkpoints"
        save_checkpoint(folder / "latest.pt", state)
        if keep:
            save_checkpoint(folder / f"step_{self.step:07d}.pt", state)

    def _restore(self, state: dict) -> None:
        self.step = state["step"]
        self.g.load_state_dict(state["g"])
        self.d.load_state_dict(state["d"])
        self.opt_g.load_state_dict(state["opt_g"])
        self.opt_d.load_state_dict(state["opt_d"])
        self.sched_g.load_state_dict(state["sched_g"])
        self.sched_d.load_state_dict(state["sched_d"])
        self.fixed = state["fixed"]
        set_rng_state(state["rng"])


class _InterruptFlag:
    """Turns the first Ctrl-C / SIGTERM into a flag, so the loop stops after the current step and
    saves a checkpoint; a second Ctrl-C interrupts at once."""

    def __init__(self) -> None:
        self.raised = False
        self._old: dict[int, object] = {}

    def _handler(self, signum, frame) -> None:
        if self.raised:
            raise KeyboardInterrupt
        self.raised = True

    def __enter__(self) -> _InterruptFlag:
        try:
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._old[sig] = signal.signal(sig, self._handler)
        except ValueError:  # not the main thread: leave the handlers alone
            self._old = {}
        return self

    def __exit__(self, *exc) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)


def open_run(run_dir: str | Path) -> tuple[Path, Config]:
    """A run directory and its config, or a UserError that says why it is not one."""
    path = Path(run_dir)
    if not path.is_dir():
        raise UserError(f"run directory {path} does not exist; give the --out folder of an earlier ganforge train")
    if not is_run_dir(path):
        raise UserError(f"{path} is not a ganforge run directory (no config.json and checkpoints/ in it)")
    return path, load_config(path / "config.json")
