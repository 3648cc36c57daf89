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
from ..jsonio import loads, read_text
from ..models import build_models, inference_contract, noise
from ..models.contract import InferenceContract
from ..runs.checkpoint import find_checkpoint, load_checkpoint, load_weights
from ..runs.layout import RunLayout
from ..runs.run import open_run
from .tiles import receptive_radius, upscale_tiled

NOISE_BLOCK = 256
UPSCALE_TILE = 256  # input pixels a side that an upscaler runs on at once: memory stays bounded (tiles.py)
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
        class_names: list[str] | None = None,
    ):
        self.net, self.config, self.device, self.step = net.to(device), config, device, step
        self.contract = contract if contract is not None else inference_contract(config)
        classes = config.model.num_classes if config.conditional else 0
        # the names of a conditional run's classes (classes.json), else their numbers
        self.classes: list[str] = list(class_names or [str(k) for k in range(classes)])[:classes]

    def label_ids(self, label: Any, n: int) -> torch.Tensor | None:
        """The class of each of `n` images: `label` a class number or name (all n), a sequence of n of them,
        or None (every class in turn); None for an unconditional generator, which takes no label."""
        if not self.classes:
            if label is not None:
                raise UserError("this run's generator is not conditional: it takes no label (drop --label)")
            return None
        if label is None:
            return torch.arange(n) % len(self.classes)
        if isinstance(label, (list, tuple)):
            if len(label) != n:
                raise UserError(f"give one label for each of the {n} images, or one for all; got {len(label)}")
            return torch.tensor([self.class_id(x) for x in label], dtype=torch.long)
        return torch.full((n,), self.class_id(label), dtype=torch.long)

    def class_id(self, label: Any) -> int:
        if isinstance(label, str) and label in self.classes:
            return self.classes.index(label)
        number = int(label) if isinstance(label, int) or (isinstance(label, str) and label.isdigit()) else -1
        if isinstance(label, bool) or not 0 <= number < len(self.classes):
            shown = ", ".join(self.classes[:12]) + (", ..." if len(self.classes) > 12 else "")
            raise UserError(
                f"label {label!r} is not a class of this run: give 0 to {len(self.classes) - 1} or a name ({shown})"
            )
        return number

    def sample(
        self, n: int, seed: int | None = None, batch_size: int = NOISE_BLOCK, label: Any = None,
        truncation: float = 1.0,
    ) -> torch.Tensor:  # fmt: skip
        """`n` images (n, C, H, W) in [-1, 1] on the CPU, all in memory (`batches` streams them); the same
        seed gives the same images, and the first k of n are those of `sample(k, seed)`. A conditional
        generator makes class `label` (a number or name; a list: one each; None: every class in turn);
        `truncation` < 1 draws the noise nearer its mean (0), trading variety for typical images."""
        if isinstance(n, int) and not isinstance(n, bool) and n > MAX_SAMPLE:
            raise UserError(
                f"sample(n={n}) holds every image in memory; use batches(n) to stream more than {MAX_SAMPLE}"
            )
        parts = list(self.batches(n, seed, batch_size, label, truncation))
        return torch.cat(parts) if parts else torch.empty(0)

    @torch.no_grad()
    def batches(
        self, n: int, seed: int | None = None, batch_size: int = NOISE_BLOCK, label: Any = None,
        truncation: float = 1.0,
    ) -> Iterator[torch.Tensor]:  # fmt: skip
        """The images of `sample(n, seed)` a batch at a time, in bounded memory whatever `n`: noise is drawn
        in blocks of NOISE_BLOCK vectors from the seed's stream, so image i does not depend on `n`."""
        _count(n, "n", at_least=0)
        _count(batch_size, "batch_size")
        if seed is not None:
            check_seed(seed, "seed")
        if self.config.task != "unconditional":
            raise UserError("this run translates images; use translate(images) or ganforge translate")
        check_truncation(truncation)
        labels = self.label_ids(label, n)
        gen = torch.Generator().manual_seed(seed) if seed is not None else None
        done = 0
        while done < n:
            z = noise(self.config, NOISE_BLOCK, gen)[: n - done] * truncation
            part = labels[done : done + len(z)] if labels is not None else None
            done += len(z)
            yield self.contract.run(self.net, z, batch_size, seed=seed or 0, labels=part).cpu()

    @torch.no_grad()
    def walk(
        self, frames: int, seed: int = 0, label: Any = None, points: int = 4, truncation: float = 1.0
    ) -> torch.Tensor:
        """`frames` images along a closed loop through `points` random latents (spherical interpolation,
        so every frame's noise keeps a typical length): how smoothly the generator's images change."""
        _count(frames, "frames", at_least=2)
        check_seed(seed, "seed")
        check_truncation(truncation)
        if self.config.task != "unconditional":
            raise UserError("this run translates images; a latent walk needs a generator from noise")
        keys = noise(self.config, points, torch.Generator().manual_seed(seed))
        t = torch.arange(frames, dtype=torch.float32) * points / frames
        start, frac = t.floor().long(), (t - t.floor()).unsqueeze(1)
        z = slerp(keys[start], keys[(start + 1) % points], frac) * truncation
        labels = self.label_ids(label if label is not None else 0, frames) if self.classes else None
        return self.contract.run(self.net, z, seed=seed, labels=labels).cpu()

    @torch.no_grad()
    def translate(
        self, images: torch.Tensor, batch_size: int = 16, seed: int = 0, direction: str = "AtoB"
    ) -> torch.Tensor:
        """Outputs in [-1, 1] on the CPU for input images (N, C, H, W) in [-1, 1]; an unpaired run
        (cyclegan) translates either way (`direction` AtoB or BtoA)."""
        net = self.translator(direction)
        _count(batch_size, "batch_size")
        check_seed(seed, "seed")
        c = self.input_channels
        if not isinstance(images, torch.Tensor) or images.ndim != 4 or images.shape[1] != c:
            shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
            raise UserError(f"translate(images) takes a tensor (N, {c}, H, W) in [-1, 1]; got {shape}")
        if not images.is_floating_point():
            raise UserError(f"translate(images) takes floating-point images in [-1, 1]; got {images.dtype}")
        return self.contract.run(net, images.float(), batch_size, seed=seed).cpu()

    @torch.no_grad()
    def upscale(self, images: torch.Tensor, tile: int = UPSCALE_TILE) -> torch.Tensor:
        """An upscaler's outputs (N, C, scale*H, scale*W) in [-1, 1] on the CPU for images (N, C, H, W) of
        any size, run a tile at a time with enough context that the seams do not show (inference/tiles.py)."""
        m = self.config.model
        if self.config.task != "upscale":
            raise UserError(f"this run's {m.family} does not upscale; use translate(images) or sample(n)")
        return upscale_tiled(self.translate, images, m.scale, tile, receptive_radius(m.blocks))

    def translator(self, direction: str = "AtoB") -> nn.Module:
        """The network that translates `direction`: a paired run's generator (AtoB only), or either of an
        unpaired run's two (models/cyclegan.py: `ab`, `ba`)."""
        task = self.config.task
        if task == "unconditional":
            raise UserError("this run generates from noise; use sample(n) or ganforge sample")
        if direction not in ("AtoB", "BtoA") or (direction == "BtoA" and task != "unpaired"):
            fix = "use AtoB or BtoA" if task == "unpaired" else "a paired run translates AtoB only (its data's way)"
            raise UserError(f"direction {direction!r}: {fix}")
        return self.net if task != "unpaired" else getattr(self.net, "ab" if direction == "AtoB" else "ba")

    @property
    def input_channels(self) -> int:
        """Channels of the images translated: a paired run's inputs', an unpaired run's (both sides')."""
        return self.config.data.in_channels if self.config.task == "paired" else self.config.data.channels

    @staticmethod
    def to_pil(images: torch.Tensor) -> list[Image.Image]:
        return [to_pil(img) for img in images]


def check_truncation(value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 1:
        raise UserError(f"truncation must be a number in (0, 1], got {value!r}: 1 is none, 0.7 a common choice")


def slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation between rows of `a` and `b` at fractions `t` (N, 1)."""
    cos = torch.nn.functional.cosine_similarity(a, b, dim=1).clamp(-1 + 1e-7, 1 - 1e-7).unsqueeze(1)
    angle = torch.acos(cos)
    return (torch.sin((1 - t) * angle) * a + torch.sin(t * angle) * b) / torch.sin(angle)


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
    classes = RunLayout(path).classes
    names = loads(read_text(classes)) if classes.is_file() else None
    return Generator(g, cfg, dev, contract, step=state.get("step"), class_names=names)
