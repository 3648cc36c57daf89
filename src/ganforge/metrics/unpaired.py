"""Judging an unpaired (CycleGAN) run, each direction apart: the FID of its translations against real
images of the other side, beside the FID of the untranslated inputs (the trivial baseline: a translation
that does nothing), and, where the held-out images come in true pairs (the embedded shapes; folders whose
held-out names match), L1, PSNR and SSIM against the partners as for pix2pix (metrics/pairs.py)."""

from __future__ import annotations

from collections.abc import Callable

import torch

from ..data.base import ImageDataset
from .distribution import fid
from .features import extract
from .pairs import evaluate_pairs

WAYS = {"AtoB": (0, 1), "BtoA": (1, 0)}  # (the side translated, the side it becomes)


class OneWay:
    """A two-way generator seen as the one-way translator evaluate_pairs takes."""

    def __init__(self, g, direction: str):
        self.g, self.direction = g, direction

    def translate(self, images: torch.Tensor, batch_size: int = 16, seed: int = 0) -> torch.Tensor:
        return self.g.translate(images, batch_size, seed, direction=self.direction)


def sides(held_out: ImageDataset, limit: int) -> tuple[list[Callable[[int], torch.Tensor]], list[int]]:
    """Readers of each held-out side's image i and each side's size (at most `limit`): a folder's two
    sides, or the two halves of held-out pairs."""
    if getattr(held_out, "unpaired", False):
        read = [held_out.a.__getitem__, held_out.b.__getitem__]  # type: ignore[attr-defined]
        sizes = [len(held_out.a), len(held_out.b)]  # type: ignore[attr-defined]
    else:
        read = [lambda i: held_out[i][0], lambda i: held_out[i][1]]
        sizes = [len(held_out)] * 2  # type: ignore[arg-type]
    return read, [min(n, limit) for n in sizes]


def _features(extractor, read: Callable[[int], torch.Tensor], n: int, batch: int, translate=None) -> torch.Tensor:
    chunks = []
    for start in range(0, n, batch):
        images = torch.stack([read(i) for i in range(start, min(n, start + batch))])
        chunks.append(extract(extractor, translate(images) if translate else images))
    return torch.cat(chunks)


def evaluate_unpaired(
    g,
    held_out: ImageDataset,
    mean_sides: list[torch.Tensor],
    extractor: torch.nn.Module | None,
    limit: int,
    batch: int = 64,
) -> dict[str, dict]:
    """Per direction: rows for the model and the trivial baselines. `mean_sides`: the mean training image
    of each side (the mean-target baseline of the pairs); `limit`: held-out images per side at most."""
    read, sizes = sides(held_out, limit)
    pairs = held_out if not getattr(held_out, "unpaired", False) else held_out.pairs()  # type: ignore[attr-defined]
    if pairs is not None and len(pairs) > limit:  # type: ignore[arg-type]
        pairs = torch.utils.data.Subset(pairs, range(limit))
    real_feats = [_features(extractor, read[s], sizes[s], batch) for s in (0, 1)] if extractor is not None else []
    results: dict[str, dict] = {}
    for direction, (source, target) in WAYS.items():
        one_way = OneWay(g, direction)
        rows: dict[str, dict] = {}
        if pairs is not None:
            flipped = pairs if direction == "AtoB" else _Flipped(pairs)
            rows = evaluate_pairs(one_way, flipped, mean_sides[target])
        if extractor is not None and sizes[source] >= 2 and sizes[target] >= 2:
            moved = _features(extractor, read[source], sizes[source], batch, one_way.translate)
            for name, feats in (("model", moved), ("baseline: input", real_feats[source])):
                rows.setdefault(name, {"images": sizes[source]})["fid"] = fid(real_feats[target], feats)
        results[direction] = rows
    return results


class _Flipped(ImageDataset):
    """(B, A) pairs from (A, B) pairs: the held-out pairs read the other way."""

    def __init__(self, pairs):
        self.pairs = pairs

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        a, b = self.pairs[i]
        return b, a
