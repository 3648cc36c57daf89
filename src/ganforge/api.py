"""The Python API: what the CLI calls, and what a notebook calls.

import ganforge
run = ganforge.train("dcgan-mnist", data="digits", steps=1500, out="runs/digits")
g = ganforge.load(run.dir)
images = g.sample(16, seed=0)          # (16, 1, 28, 28) in [-1, 1]
g.to_pil(images)[0].save("digit.png")
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from PIL import Image
from torch import nn

from .config import Config, check_seed, load_config
from .config_overrides import FLAG_OF, apply_overrides, parse_override
from .data.images import to_pil
from .errors import UserError
from .files import append_lines
from .models import InferenceContract, build_models, inference_contract
from .outputs import check_free_space
from .train.checkpoint import load_checkpoint, load_weights
from .train.distributed import broadcast_object, leave
from .train.loop import Trainer, save_config
from .train.rollback import chosen_checkpoint, roll_back
from .train.run_dir import Run, open_run
from .train.run_folder import NewRun, RunLock, default_run_name
from .train.runtime import Runtime, resolve_device
from .train.tasks import UnconditionalTask


def resolve_config(
    config: str | Path | dict | Config | None = "dcgan-mnist",
    *,
    data: str | Path | None = None,
    image_size: int | None = None,
    steps: int | None = None,
    epochs: int | None = None,
    batch_size: int | None = None,
    device: str | None = None,
    seed: int | None = None,
    degrade: str | list[str] | None = None,
    model_configs: str | Path | None = None,
    stop_on: str | None = None,
    overrides: dict[str, Any] | list[str] | None = None,
    settings: dict[str, Any] | None = None,
) -> Config:
    """A preset, file or dict, with the common options and `key=value` overrides applied on top.
    `settings` are config keys that the command line's own flags set (FLAG_OF names them in errors).

    `model_configs` is a seed-002 model_configs.json (architecture and loss weights) applied to the config.
    """
    if steps is not None and epochs is not None:
        raise UserError("give --steps or --epochs, not both")
    cfg = load_config(config)
    from_file: dict[str, Any] = {}
    file_origins: dict[str, str] = {}
    if model_configs is not None:
        from .seed002 import seed002_settings

        if cfg.model.family != "unet":
            raise UserError(
                f"--model-configs is seed 002's file for the unet family; this config's family is "
                f"{cfg.model.family}: drop --model-configs or start from unet-restore"
            )
        from_file, file_origins = seed002_settings(cfg, None, model_configs)
    flags: dict[str, Any] = {
        "data.name": str(data) if data is not None else None,
        "data.image_size": image_size,
        "train.steps": steps,
        "train.epochs": epochs if epochs is not None else (0 if steps is not None else None),
        "train.batch_size": batch_size,
        "train.device": device,
        "train.seed": seed,
        "data.degrade": ",".join([degrade] if isinstance(degrade, str) else degrade) if degrade else None,
        "health.stop_on": stop_on,
    }
    items: dict[str, Any] = {k: v for k, v in {**flags, **(settings or {})}.items() if v is not None}
    origins = {key: FLAG_OF.get(key, "--set") for key in items}
    items, origins = {**from_file, **items}, {**file_origins, **origins}  # the command line's win
    given = dict(parse_override(o) for o in overrides) if isinstance(overrides, list) else dict(overrides or {})
    items.update(given)
    for key in given:
        origins.pop(key, None)
    return apply_overrides(cfg, items, origins)  # in one call: a new model.family is set before the keys it brings


def train(
    config: str | Path | dict | Config | None = "dcgan-mnist",
    *,
    out: str | Path | None = None,
    resume: str | Path | None = None,
    quiet: bool = False,
    command: str | None = None,
    checkpoint: str | None = None,
    **options: Any,
) -> Run:
    """Train a GAN and return its run; `options` are those of `resolve_config`.

    With `resume=RUN_DIR` the run goes on from its newest whole checkpoint with its own config (or, with
    `checkpoint`, rolls back to that one: train/rollback.py); `steps` or `epochs` may raise the total, and
    `stop_on` set the health events that stop it. `command`, the command line that asked for the run, is
    added to RUN_DIR/command.txt (default: the Python call).
    """
    if command is None:
        given = {"out": out, "resume": resume, **options}
        shown = {k: str(v) if isinstance(v, Path) else v for k, v in given.items() if v is not None}
        args = ([repr(config)] if resume is None else []) + [f"{k}={v!r}" for k, v in shown.items()]
        command = f"ganforge.train({', '.join(args)})"
    if resume is not None:
        return _resume(Path(resume), options, quiet, command, checkpoint)
    if checkpoint is not None:
        raise UserError("--checkpoint chooses where a resumed run goes on from; give it with --resume RUN_DIR")
    cfg = absolute_data_paths(resolve_config(config, **options))
    runtime = _join(cfg)
    claim = NewRun(Path(out) if out is not None else None, default_run_name(cfg.preset or cfg.model.family))
    run_dir = _on_main(runtime, claim.__enter__)  # created, locked, checked empty: before anything is written
    try:
        trainer = Trainer(cfg, run_dir, quiet=quiet, runtime=runtime)
    except BaseException:
        if runtime.is_main:
            claim.abandon()  # a run that failed to start leaves no folder of its own behind
        raise
    try:
        return _fit(trainer, command)
    finally:
        claim.__exit__(None, None, None)  # the lock is released however the run ends


def _resume(run_dir: Path, options: dict[str, Any], quiet: bool, command: str, checkpoint: str | None) -> Run:
    """Go on with a run from its newest whole checkpoint, or roll back to `checkpoint`."""
    run_dir, cfg = open_run(run_dir)
    steps, epochs, stop_on = options.get("steps"), options.get("epochs"), options.get("stop_on")
    if steps is not None:
        cfg = apply_overrides(cfg, {"train.steps": steps, "train.epochs": 0}, FLAG_OF)
    if epochs is not None:
        cfg = apply_overrides(cfg, {"train.epochs": epochs}, FLAG_OF)
    if stop_on is not None:
        cfg = apply_overrides(cfg, {"health.stop_on": stop_on}, FLAG_OF)
    runtime = _join(cfg)
    if runtime.is_main:
        check_free_space(run_dir, f"free some space before resuming {run_dir}")
    with RunLock(run_dir) if runtime.is_main else contextlib.nullcontext():
        start = None
        if checkpoint is not None:
            chosen = chosen_checkpoint(run_dir, checkpoint)
            start = (chosen, load_checkpoint(chosen), [])
        trainer = Trainer(cfg, run_dir, resume=True, quiet=quiet, runtime=runtime, start=start)
        if start is not None and runtime.is_main:  # the networks fit: only now is anything moved
            note = roll_back(run_dir, start[0], start[1]["step"])
            trainer.start_notes += [note] if note else []
        if runtime.is_main:
            save_config(cfg, run_dir)
        return _fit(trainer, command)


def _on_main(runtime: Runtime, action: Any) -> Any:
    """`action()` on the main process, its result on every process; an error there is raised on all."""
    result, error = None, None
    if runtime.is_main:
        try:
            result = action()
        except UserError as e:
            error = str(e)
    result, error = broadcast_object((result, error))
    if error is not None:
        raise UserError(error)
    return result


def absolute_data_paths(cfg: Config) -> Config:
    """Data folders as absolute paths, so that the run resumes and evaluates from any working directory."""
    from .data import PAIRED, UNCONDITIONAL

    given = {k: getattr(cfg.data, k.split(".")[1]) for k in ("data.name", "data.val_name")}
    builtin = {*UNCONDITIONAL, *PAIRED, "shapes"}
    found = {
        k: str(Path(v).expanduser().resolve())
        for k, v in given.items()
        if v and v not in builtin and Path(v).expanduser().exists()
    }
    return apply_overrides(cfg, found) if found else cfg


def _join(cfg: Config) -> Runtime:
    """The run's runtime; under torchrun this joins the run's processes, before anything is written."""
    return Runtime.from_config(cfg.train)


def _fit(trainer: Trainer, command: str) -> Run:
    try:
        if trainer.world.is_main:
            path = trainer.run_dir / "command.txt"
            trainer.monitor.attempt(path, lambda: append_lines(path, [command + "\n"]))
        return trainer.fit()
    finally:
        if trainer.world.size > 1:
            leave()


NOISE_BLOCK = 256
MAX_SAMPLE = 100_000  # images `sample` holds at once; `batches` streams any number


def _count(value: Any, name: str, at_least: int = 1) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < at_least:
        rule = "a positive integer" if at_least == 1 else f"an integer of at least {at_least}"
        raise UserError(f"{name} must be {rule}, got {value!r}")


class Generator:
    """A trained generator: `sample(n, seed)` for noise-to-image runs, `translate(images)` for paired ones.

    Outputs follow the family's inference contract (models/family.py): the same normalisation, dropout
    and output range wherever the generator is used.
    """

    def __init__(
        self,
        net: nn.Module,
        config: Config,
        device: torch.device,
        contract: InferenceContract | None = None,
        step: int | None = None,
    ):
        self.net, self.config, self.device, self.step = net.to(device), config, device, step
        self.contract = contract if contract is not None else inference_contract(config)

    def sample(self, n: int, seed: int | None = None, batch_size: int = NOISE_BLOCK) -> torch.Tensor:
        """`n` images (n, C, H, W) in [-1, 1] on the CPU, all in memory (`batches` streams them); the same
        seed gives the same images, and the first k of n are those of `sample(k, seed)`."""
        if isinstance(n, int) and not isinstance(n, bool) and n > MAX_SAMPLE:
            raise UserError(
                f"sample(n={n}) holds every image in memory; use batches(n) to stream more than {MAX_SAMPLE}"
            )
        parts = list(self.batches(n, seed, batch_size))
        return torch.cat(parts) if parts else torch.empty(0)

    @torch.no_grad()
    def batches(self, n: int, seed: int | None = None, batch_size: int = NOISE_BLOCK) -> Iterator[torch.Tensor]:
        """The images of `sample(n, seed)` a batch at a time, in bounded memory whatever `n`: noise is drawn
        in blocks of NOISE_BLOCK vectors from the seed's stream, so image i does not depend on `n`."""
        _count(n, "n", at_least=0)
        _count(batch_size, "batch_size")
        if seed is not None:
            check_seed(seed, "seed")
        if self.config.task != "unconditional":
            raise UserError("this run translates images; use translate(images) or ganforge translate")
        gen = torch.Generator().manual_seed(seed) if seed is not None else None
        left = n
        while left > 0:
            z = UnconditionalTask.noise(self.config, NOISE_BLOCK, gen)[:left]
            left -= len(z)
            yield self.contract.run(self.net, z, batch_size, seed=seed or 0).cpu()

    @torch.no_grad()
    def translate(self, images: torch.Tensor, batch_size: int = 16, seed: int = 0) -> torch.Tensor:
        """Outputs in [-1, 1] on the CPU for input images (N, C, H, W) in [-1, 1]."""
        if self.config.task != "paired":
            raise UserError("this run generates from noise; use sample(n) or ganforge sample")
        _count(batch_size, "batch_size")
        check_seed(seed, "seed")
        c = self.config.data.in_channels
        if not isinstance(images, torch.Tensor) or images.ndim != 4 or images.shape[1] != c:
            shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
            raise UserError(f"translate(images) takes a tensor (N, {c}, H, W) in [-1, 1]; got {shape}")
        if not images.is_floating_point():
            raise UserError(f"translate(images) takes floating-point images in [-1, 1]; got {images.dtype}")
        return self.contract.run(self.net, images.float(), batch_size, seed=seed).cpu()

    @staticmethod
    def to_pil(images: torch.Tensor) -> list[Image.Image]:
        return [to_pil(img) for img in images]


def load(run_dir: str | Path, device: str = "auto", checkpoint: str | Path | None = None) -> Generator:
    """The generator of a run with its family's contract: its latest checkpoint, or the one named (a
    file, or a name in its checkpoints/ folder such as `best` or `step_0001000`)."""
    if not isinstance(run_dir, (str, os.PathLike)) or not isinstance(device, str):
        raise UserError(f"load(run_dir, device) takes a folder path and a device name; got {run_dir!r}, {device!r}")
    path, cfg = open_run(run_dir)
    dev = resolve_device(device)
    contract = inference_contract(cfg)
    source = checkpoint_path(path, checkpoint)
    state = load_checkpoint(source)
    with torch.random.fork_rng(devices=[]):  # initialising the networks draws numbers: not from the caller's stream
        g, _ = build_models(cfg)
    if contract.weights not in state:
        raise UserError(f"checkpoint {source} holds no {contract.weights!r} weights; it is not a ganforge checkpoint")
    load_weights(g, state[contract.weights], source, state, cfg.to_dict())
    return Generator(g, cfg, dev, contract, step=state.get("step"))


def checkpoint_path(run_dir: Path, checkpoint: str | Path | None) -> Path:
    """A checkpoint file as given, else the one of that name in the run's checkpoints/ folder."""
    if checkpoint is None:
        return run_dir / "checkpoints" / "latest.pt"
    given = Path(checkpoint)
    named = run_dir / "checkpoints" / f"{given.stem}.pt"
    if given.is_file():
        return given
    if named.is_file():
        return named
    kept = ", ".join(sorted(p.stem for p in (run_dir / "checkpoints").glob("*.pt")))
    raise UserError(f"no checkpoint {checkpoint!r} in {run_dir}; give a file or one of: {kept}")
