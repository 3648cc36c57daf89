"""Scores of a run's generator against its real data, as `ganforge evaluate` and evaluation during
training (train/evaluation.py) compute them.

Noise-to-image runs: FID, KID, precision, recall, density and coverage on features of generated and real
images (metrics/distribution.py, metrics/features.py), and the classifier view where the data have class
labels (metrics/classes.py). Image-to-image runs: L1, PSNR and SSIM against the targets beside the trivial
baselines (metrics/pairs.py), and the FID of each against the targets; unpaired runs, each direction
(metrics/unpaired.py).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

import numpy as np
import torch

from ..config import MAX_EVAL_IMAGES, Config
from ..config.flags import FLAG_OF
from ..config.overrides import apply_overrides
from ..config.vocab import LOWER_IS_BETTER, PAIRED_METRICS, UNCONDITIONAL_METRICS, UPSCALE_METRICS
from ..data import build_dataset, build_pairs, held_out_pairs
from ..data.labels import labelled
from ..data.realworld import low_resolution_inputs
from ..errors import UserError
from .classes import ClassifierView
from .distribution import compare, fid
from .features import build_extractor, extract
from .memorisation import NearestTraining
from .pairs import evaluate_pairs
from .unpaired import WAYS, evaluate_unpaired
from .upscale import evaluate_upscaling


class Generates(Protocol):
    """What the Evaluator needs of a generator (inference/generator.py's Generator is one)."""

    config: Config
    device: torch.device

    def batches(self, n: int, seed: int | None = ..., batch_size: int = ...) -> Iterator[torch.Tensor]: ...

    def translate(
        self, images: torch.Tensor, batch_size: int = ..., seed: int = ..., direction: str = ...
    ) -> torch.Tensor: ...


MAX_EXTRACTOR_REALS = 5000  # real images the own extractor learns from
MIN_OWN_REALS = 64
BATCH = 256  # images generated or read, and scored, at a time


def better(metric: str, new: float, old: float | None) -> bool:
    """Whether `new` beats `old` for `metric` (lower FID, KID and L1; higher for the rest)."""
    if old is None:
        return True
    return new < old if metric in LOWER_IS_BETTER else new > old


def data_key(cfg: Config, what: str) -> str:
    """What the own extractor was trained on: a different key trains it again."""
    d = cfg.data
    return f"{d.name}|{d.image_size}|{d.channels}|{what}"


def _subset(n: int, limit: int, seed: int) -> list[int]:
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    return order[:limit].tolist()


class Evaluator:
    """Scores generators of one run with one extractor; the real side (images, features, classifier) is
    prepared once and reused, so that evaluations during training cost only the generated side.

    `features`: the extractor's name (metrics/features.py); None leaves FID out of a paired evaluation.
    `images`: how many generated images (noise-to-image; as many reals, or all there are) or held-out
    pairs (image-to-image) are scored.
    """

    def __init__(
        self,
        cfg: Config,
        run_dir: Path | None,
        features: str | None = "own",
        images: int = 5000,
        device: torch.device | str = "cpu",
        split: str = "test",
        data: str | None = None,
        seed: int = 0,
    ):
        self.cfg, self.run_dir, self.features, self.images = cfg, run_dir, features, images
        self.device, self.split, self.seed = torch.device(device), split, seed
        self.data_name = data
        self._net: torch.nn.Module | None = None
        self.note: str | None = None  # what the results should say of how they were measured
        self.closest: tuple[torch.Tensor, torch.Tensor] | None = None  # the nearest (generated, training) pairs
        self._real_feats: torch.Tensor | None = None
        self._classes = None
        self._train = None
        self._held_out = None
        self._mean_target: torch.Tensor | list[torch.Tensor] | None = None

    def _train_set(self):
        if self._train is None:
            self._train = build_pairs(self.cfg, "train") if self.cfg.task == "paired" else build_dataset(self.cfg)
            if self.cfg.conditional and self._train.labels is None:  # a folder's classes
                self._train.labels = labelled(self._train, self.cfg.data.name).labels
        return self._train

    def _real_count(self) -> int:
        train = self._train_set()
        return len(train.a) + len(train.b) if self.cfg.task == "unpaired" else len(train)

    def _real_images(self, limit: int) -> torch.Tensor:
        return torch.stack([self._real(i) for i in _subset(self._real_count(), limit, self.seed)])

    def _real(self, i: int) -> torch.Tensor:
        """Real image i: a target of the pairs, an image of either side (unpaired: A's, then B's), or one."""
        train = self._train_set()
        if self.cfg.task == "unpaired":
            return train.a[i] if i < len(train.a) else train.b[i - len(train.a)]
        item = train[i]
        return item[1] if self.cfg.task == "paired" or isinstance(item, (tuple, list)) else item

    def _scored_rows(self) -> list[int]:
        """The training images a noise-to-image evaluation scores against (up to `images`): the rows of the
        real features, in order."""
        return _subset(len(self._train_set()), self.images, self.seed)

    def _real_features(self) -> torch.Tensor:
        """Features of the scored real images, extracted a batch at a time (bounded memory)."""
        picked = self._scored_rows()
        chunks = [picked[i : i + BATCH] for i in range(0, len(picked), BATCH)]
        return torch.cat([extract(self.extractor, torch.stack([self._real(i) for i in c])) for c in chunks])

    @property
    def extractor(self) -> torch.nn.Module:
        if self._net is None:
            what = {"paired": "targets", "unpaired": "both sides", "upscale": "patches"}.get(self.cfg.task, "images")
            reals = lambda: self._real_images(MAX_EXTRACTOR_REALS)  # noqa: E731
            self._net = build_extractor(self.features, self.run_dir, reals, data_key(self.cfg, what), self.device)
        return self._net

    def check(self, real_images: int) -> None:
        """What can be checked before any work: the number of images, the extractor's needs (the Inception
        weights are fetched now)."""
        if self.cfg.task == "unconditional" and self.images < 10:
            raise UserError(f"{self.images} images are too few for the distribution metrics; give 10 or more")
        if self.images > MAX_EVAL_IMAGES:
            raise UserError(f"{self.images} images: the evaluation scores {MAX_EVAL_IMAGES:,} at most; give fewer")
        if self.features == "own" and real_images < MIN_OWN_REALS:
            self.features = "pixels"  # too few to learn from: near-copies show in pixels (metrics/features.py)
            self.note = (
                f"the own feature extractor learns from 64 or more real images and there are {real_images}: scored "
                "in pixels (metrics/features.py), where memorisation shows; the distribution metrics mean little"
            )
        if real_images < 2:
            raise UserError(f"{real_images} real image: the metrics compare generated images with 2 or more")
        if self.features == "inception":
            _ = self.extractor

    def __call__(self, g: Generates) -> dict:
        """The scores of `g`, drawing nothing from the caller's random streams (CPU, the device's, NumPy's,
        Python's), and the same every time."""
        cuda = [self.device.index or 0] if self.device.type == "cuda" else []
        numpy_state, python_state = np.random.get_state(), random.getstate()
        try:
            with torch.random.fork_rng(devices=cuda):
                torch.random.default_generator.manual_seed(self.seed)
                if cuda:
                    torch.cuda.manual_seed(self.seed)
                return getattr(self, self.cfg.task)(g)  # unconditional, paired or unpaired
        finally:
            np.random.set_state(numpy_state)
            random.setstate(python_state)

    def unconditional(self, g: Generates) -> dict:
        """FID, KID (and its std over subsets), precision, recall, density, coverage; `classes` too where
        the data have labels."""
        if not self.features:
            raise UserError("noise-to-image runs are scored on features: give --features own or inception")
        self.check(len(self._train_set()))
        if self._real_feats is None:
            self._real_feats = self._real_features()
        n, view = self.images, self._classifier()
        feats, probs, nearest = [], [], NearestTraining(self._real_feats)
        for fakes in g.batches(n, seed=self.seed + 1):  # generated and scored a batch at a time
            feats.append(extract(self.extractor, fakes))
            nearest.add(feats[-1], fakes)
            if view is not None:
                probs.append(view.proba(fakes))
        fake_feats = torch.cat(feats)
        result = compare(self._real_feats, fake_feats)
        copies = nearest.result()
        result |= {"near_copies": copies["near_copies"], "memorisation": copies}
        rows = self._scored_rows()
        training = torch.stack([self._real(rows[c["training"]]) for c in copies["closest"]])
        self.closest = (nearest.closest_images(), training)
        result |= {"extractor": self.features, "images": n, "real_images": len(self._real_feats)}
        result |= {"note": self.note} if self.note else {}
        if view is not None:
            result["classes"] = view.summary(np.concatenate(probs))
        classes = len(getattr(g, "classes", None) or [])
        if classes:  # g.batches asked for every class in turn: image i is of class i % classes
            asked = torch.arange(n) % classes
            result["conditional"] = self._per_class(asked, fake_feats, np.concatenate(probs) if probs else None)
        return result

    def _per_class(self, asked: torch.Tensor, fake_feats: torch.Tensor, probs: np.ndarray | None) -> dict:
        """A conditional generator's scores by class: the share of its images that the classifier reads as
        the class they were asked for, and the intra-class FID (each class's images against its reals)."""
        labels = self._train_set().labels
        picked = torch.tensor(self._scored_rows())
        real_labels = labels[picked] if labels is not None else None
        result: dict = {}
        if probs is not None:
            read = torch.from_numpy(probs.argmax(1))
            per_class = [float((read[asked == k] == k).float().mean()) for k in range(int(asked.max()) + 1)]
            result["label_accuracy"] = round(sum(per_class) / len(per_class), 4)
            result["label_accuracy_per_class"] = [round(a, 4) for a in per_class]
        if real_labels is not None:
            scores = [
                fid(self._real_feats[real_labels == k], fake_feats[asked == k])
                for k in range(int(asked.max()) + 1)
                if int((real_labels == k).sum()) >= 2 and int((asked == k).sum()) >= 2
            ]
            result["intra_fid"] = round(sum(scores) / len(scores), 4) if scores else None
            result["intra_fid_per_class"] = [round(s, 4) for s in scores]
        return result

    def _classifier(self):
        data = self._train_set()
        if data.labels is None:
            return None
        if self._classes is None:
            picked = _subset(len(data), 2 * MAX_EXTRACTOR_REALS, self.seed)
            images = torch.stack([data[i] for i in picked])
            self._classes = ClassifierView(images, data.labels[picked], seed=self.seed)
        return self._classes

    def paired(self, g: Generates) -> dict[str, dict]:
        """Rows for the model and the trivial baselines on the held-out split (of `data`, if given, else
        of the run's data): L1, PSNR, SSIM, and FID against the targets with the run's extractor."""
        if self._mean_target is None:  # read once: an evaluation during training reads only the held-out pairs
            train = build_pairs(self._eval_config(), "train") if self.data_name else self._train_set()
            self._mean_target = torch.stack([train[i][1] for i in range(min(len(train), 200))]).mean(0, keepdim=True)
        held_out = self.held_out()
        if len(held_out) > self.images:
            held_out = torch.utils.data.Subset(held_out, _subset(len(held_out), self.images, self.seed))
        extractor = self.extractor if self.features else None
        return evaluate_pairs(g, held_out, self._mean_target, extractor=extractor)

    def unpaired(self, g: Generates) -> dict[str, dict]:
        """Per direction (metrics/unpaired.py): FID against the other side's held-out images beside the
        inputs' own, and L1/PSNR/SSIM against the baselines where the held-out images are true pairs."""
        if self._mean_target is None:
            train = build_dataset(self._eval_config()) if self.data_name else self._train_set()
            self._mean_target = [_mean_image(side) for side in (train.a, train.b)]
        extractor = self.extractor if self.features else None
        return evaluate_unpaired(g, self.held_out(), self._mean_target, extractor, self.images)

    def upscale(self, g: Generates) -> dict[str, dict]:
        """Whole held-out photographs (up to `images`), enlarged by the model, bicubic and nearest neighbours:
        PSNR and SSIM on luma and RGB, and FID of their patches against the originals' (metrics/upscale.py)."""
        extractor = self.extractor if self.features else None
        inputs = low_resolution_inputs(self.cfg)  # as training makes them
        scale, patch = self.cfg.model.scale, self.cfg.data.image_size
        return evaluate_upscaling(g, self.held_out(), inputs, scale, extractor, self.images, patch)

    def _eval_config(self) -> Config:
        return apply_overrides(self.cfg, {"data.name": self.data_name} if self.data_name else None, FLAG_OF)

    def held_out(self, *splits: str):
        """The held-out pairs: of `split`, or of the first of `splits` the data have (which becomes `split`)."""
        if self._held_out is None:
            self._held_out, self.split = held_out_pairs(self._eval_config(), splits or (self.split,))
        return self._held_out

    def scores_training_pairs(self) -> bool:
        """Whether the held-out pairs are the run's training pairs: its data folder has no split folders."""
        separate = self.data_name or self.cfg.data.val_name
        return not separate and self.held_out().unsplit

    def flat(self, result: dict) -> dict[str, float]:
        """The headline numbers of a result, for a metrics line: the model's row of a paired result; of an
        unpaired one, each direction's (`psnr_AtoB`) and their mean (`psnr`)."""
        if "AtoB" in result:
            ways = {d: self.flat(result[d]) for d in WAYS if result.get(d)}
            each = {f"{k}_{d}": v for d, row in ways.items() for k, v in row.items()}
            return {
                k: sum(row[k] for row in ways.values() if k in row) / sum(k in row for row in ways.values())
                for k in PAIRED_METRICS
                if any(k in row for row in ways.values())
            } | each
        row = result.get("model", result)
        names = (*PAIRED_METRICS, *UPSCALE_METRICS) if "model" in result else UNCONDITIONAL_METRICS
        return {k: float(row[k]) for k in names if isinstance(row.get(k), (int, float))}


def _mean_image(images) -> torch.Tensor:
    """The mean of up to 200 images of a data set (the mean-target baseline), (1, C, H, W)."""
    return torch.stack([images[i] for i in range(min(len(images), 200))]).mean(0, keepdim=True)
