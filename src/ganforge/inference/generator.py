"""A trained generator, loaded from its run folder and run by its family's contract: `load(run_dir)`
gives a `Generator` that samples (noise to image) or translates (image to image). Nothing here imports
the training code."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from PIL import Image
from torch import nn

from ..config import Config, check_seed
from ..data.images import to_pil
from ..devices import resolve_device
from ..errors import UserError
from ..models import build_models, inference_contract, noise
from ..models.contract import InferenceContract
from ..runs.checkpoint import find_checkpoint, load_checkpoint, load_weights
from ..runs.run import open_run

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
            z = noise(self.config, NOISE_BLOCK, gen)[:left]
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
    source = find_checkpoint(path, checkpoint)
    state = load_checkpoint(source)
    with torch.random.fork_rng(devices=[]):  # initialising the networks draws numbers: not from the caller's stream
        g, _ = build_models(cfg)
    if contract.weights not in state:
        raise UserError(f"checkpoint {source} holds no {contract.weights!r} weights; it is not a ganforge checkpoint")
    load_weights(g, state[contract.weights], source, state, cfg.to_dict())
    return Generator(g, cfg, dev, contract, step=state.get("step"))
