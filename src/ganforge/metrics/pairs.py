"""Judging an image-to-image generator: L1, PSNR and SSIM (and FID) of its outputs on held-out pairs,
beside the trivial baselines (the input itself, the mean training target)."""

from __future__ import annotations

from typing import Protocol

import torch
from tqdm import tqdm

from ..errors import UserError
from ..models.layers import center_crop
from .distribution import fid
from .features import extract
from .image import psnr, ssim


def score(pred: torch.Tensor, target: torch.Tensor) -> dict[str, torch.Tensor]:
    """Per-image L1, PSNR (dB) and SSIM for images in [-1, 1]."""
    return {
        "l1": (pred - target).abs().flatten(1).mean(1),
        "psnr": psnr(pred, target, data_range=2.0),
        "ssim": ssim(pred, target, data_range=2.0),
    }


class Translates(Protocol):
    """What evaluate_pairs needs of a generator (inference/generator.py's Generator is one)."""

    def translate(self, images: torch.Tensor, batch_size: int = ..., seed: int = ...) -> torch.Tensor: ...


def evaluate_pairs(
    g: Translates,
    dataset,
    mean_target: torch.Tensor | None,
    batch_size: int = 16,
    extractor: torch.nn.Module | None = None,
) -> dict[str, dict]:
    """Mean L1/PSNR/SSIM of the generator and of the trivial baselines on (input, target) pairs:
    the input itself (when it has the target's channels) and the mean training target; with an
    `extractor`, the FID of each against the targets too. Outputs are clamped to [-1, 1], as saved images are."""
    sums: dict[str, dict[str, float]] = {}
    feats: dict[str, list[torch.Tensor]] = {}
    count = 0
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size)
    for inp, target in tqdm(loader, unit="batch", leave=False):
        preds = {"model": g.translate(inp, batch_size)}
        target = center_crop(target, preds["model"].shape)  # an unpadded U-Net's output is smaller
        inp = center_crop(inp, target.shape)
        if inp.shape[1] == target.shape[1]:
            preds["baseline: input"] = inp
        if mean_target is not None:
            preds["baseline: mean target"] = center_crop(mean_target, target.shape).expand_as(target)
        for name, pred in preds.items():
            for metric, values in score(pred.float(), target.float()).items():
                row = sums.setdefault(name, {})
                row[metric] = row.get(metric, 0.0) + values.sum().item()
        if extractor is not None:
            for name, images in {**preds, "targets": target}.items():
                feats.setdefault(name, []).append(extract(extractor, images.float()))
        count += len(target)
    if not count:
        raise UserError("the evaluation split holds no pairs; give --data a folder with test/ or val/ images")
    results = {name: {m: v / count for m, v in row.items()} | {"images": count} for name, row in sums.items()}
    if extractor is not None and count >= 2:
        real = torch.cat(feats["targets"])
        for name, row in results.items():
            row["fid"] = fid(real, torch.cat(feats[name]))
    return results
