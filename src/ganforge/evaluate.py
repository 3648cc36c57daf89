"""Using and judging image-to-image generators: translate files, and score a held-out split against
trivial baselines."""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm import tqdm

from .api import Generator
from .data.images import as_channels, list_images, load_image, read_size, to_pil, to_tensor
from .data.screening import check_pixels, pixel_limit
from .errors import UserError
from .jsonio import write_json
from .metrics.distribution import fid
from .metrics.features import extract
from .metrics.image import psnr, ssim
from .models import generator_output_size
from .models.unet import center_crop
from .outputs import check_folder, check_outputs

FIT_MODES = ("resize", "pad")


def _fit(x: torch.Tensor, size: int, mode: str) -> torch.Tensor:
    """resize: scale to the training size; pad: keep the resolution, reflect-pad to a multiple of the
    training size (a multiple of the U-Net's total stride: it is fully convolutional)."""
    if mode == "resize":
        return F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
    h, w = x.shape[-2:]
    ph, pw = -h % size, -w % size
    return F.pad(x, (0, pw, 0, ph), mode="reflect" if min(h, w) > max(ph, pw) else "replicate")


def translate_image(g: Generator, image: torch.Tensor, mode: str = "resize") -> torch.Tensor:
    """One input (C, H, W) in [-1, 1] -> the output at the input's own size."""
    size = g.config.data.image_size
    h, w = image.shape[-2:]
    if mode == "pad" and generator_output_size(g.config) != size:
        raise UserError("--fit pad needs a generator whose output has its input's size; use --fit resize")
    x = _fit(image.unsqueeze(0), size, mode)
    y = g.translate(x)
    if mode == "resize":
        return F.interpolate(y, size=(h, w), mode="bilinear", align_corners=False, antialias=True)[0]
    return y[0, :, :h, :w]


def translate_files(g: Generator, source: Path, output: Path, mode: str = "resize", side_by_side: bool = False) -> int:
    """Translate an image file or every image under a folder; outputs keep the inputs' relative names."""
    if g.config.task != "paired":
        raise UserError("this run generates from noise; use ganforge sample instead of translate")
    if mode not in FIT_MODES:
        raise UserError(f"unknown --fit {mode!r}; choose one of {', '.join(FIT_MODES)}")
    if not source.exists():
        raise UserError(f"input {source} does not exist; give an image file or a folder of images")
    files = [source] if source.is_file() else list_images(source)
    if not files:
        raise UserError(f"input folder {source} holds no images; put png/jpg/webp/bmp files in it")
    root = source.parent if source.is_file() else source
    jobs = [((output / path.relative_to(root)).with_suffix(".png"), path) for path in files]
    check_folder(output, "--output")
    check_outputs(jobs, files, "--output")
    limit = pixel_limit(g.config.data.max_pixels, g.config.data.image_size)
    for _, path in jobs:  # every input's header before the first output: a bomb is refused, not decoded
        check_pixels(path, *read_size(path), limit, "translate it at a smaller size first")
    for dest, path in tqdm(jobs, unit="img", disable=len(files) < 2):
        image = to_tensor(load_image(path, g.config.data.in_channels))
        out = translate_image(g, image, mode)
        if side_by_side:
            out = torch.cat([as_channels(image, out.shape[0]), out], dim=-1)
        dest.parent.mkdir(parents=True, exist_ok=True)
        to_pil(out).save(dest)
    return len(files)


def score(pred: torch.Tensor, target: torch.Tensor) -> dict[str, torch.Tensor]:
    """Per-image L1, PSNR (dB) and SSIM for images in [-1, 1]."""
    return {
        "l1": (pred - target).abs().flatten(1).mean(1),
        "psnr": psnr(pred, target, data_range=2.0),
        "ssim": ssim(pred, target, data_range=2.0),
    }


def evaluate_pairs(
    g: Generator,
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


def format_table(results: dict) -> str:
    """A paired result as rows of L1/PSNR/SSIM(/FID); a noise-to-image result as its metrics and classes."""
    if "model" not in results:
        return _format_unconditional(results)
    has_fid = "fid" in results["model"]
    lines = [f"{'':<24}{'L1':>10}{'PSNR (dB)':>12}{'SSIM':>10}" + (f"{'FID':>10}" if has_fid else "")]
    for name, r in results.items():
        if not isinstance(r, dict):
            continue
        line = f"{name:<24}{r['l1']:>10.4f}{r['psnr']:>12.2f}{r['ssim']:>10.4f}"
        lines.append(line + (f"{r['fid']:>10.2f}" if has_fid else ""))
    return "\n".join(lines)


def _format_unconditional(r: dict) -> str:
    lines = [
        f"{r['images']} generated images against {r['real_images']} real ones, {r['extractor']} features "
        f"(checkpoint step {r.get('step', '?')})",
        f"{'FID':>10}{'KID':>10}{'precision':>11}{'recall':>9}{'density':>9}{'coverage':>10}",
        f"{r['fid']:>10.3f}{r['kid']:>10.4f}{r['precision']:>11.3f}{r['recall']:>9.3f}{r['density']:>9.3f}"
        f"{r['coverage']:>10.3f}",
    ]
    c = r.get("classes")
    if c:
        lines.append(
            f"classifier view: {c['coverage']} of {c['classes']} classes covered, mean confidence "
            f"{c['mean_confidence']:.3f} (the classifier reads real images {c['classifier_accuracy_on_reals']:.0%} "
            f"right); histogram {c['histogram']}"
        )
    return "\n".join(lines)


def save_results(results: dict, path: Path) -> Path:
    return write_json(path, results)
