"""A Keras-style layer summary of a network: each leaf layer's output shape and parameter count."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ..config import Config
from ..models.layers import count_parameters
from ..registry import TASKS


def network_summary(net: nn.Module, cfg: Config, which: str) -> dict[str, Any]:
    rows: list[dict[str, Any]] = []
    hooks = []
    for name, module in net.named_modules():
        if next(module.children(), None) is not None:
            continue

        def record(mod, inputs, output, name=name):
            rows.append(
                {
                    "name": name,
                    "type": type(mod).__name__,
                    "output_shape": list(output.shape[1:]),
                    "params": count_parameters(mod, with_bn_stats=True),
                }
            )

        hooks.append(module.register_forward_hook(record))
    was_training = net.training
    net.eval()
    with torch.no_grad():
        net(*TASKS.get(cfg.task).example_inputs(cfg, which))
    net.train(was_training)
    for h in hooks:
        h.remove()
    return {
        "layers": rows,
        "parameters": count_parameters(net),
        "parameters_with_bn_stats": count_parameters(net, with_bn_stats=True),
    }


def format_table(results: dict) -> str:
    """A paired result as rows of L1/PSNR/SSIM(/FID); an unpaired one so for each direction; a
    noise-to-image result as its metrics and classes."""
    if "AtoB" in results:
        return "\n\n".join(f"{d[0]} -> {d[-1]}\n{_rows(results[d])}" for d in ("AtoB", "BtoA") if results.get(d))
    if "model" not in results:
        return _format_unconditional(results)
    return _rows(results)


COLUMNS = {
    "l1": ("L1", 10, ".4f"),
    "psnr_y": ("PSNR-Y (dB)", 13, ".2f"),  # an upscaler's, on luma (metrics/upscale.py)
    "ssim_y": ("SSIM-Y", 10, ".4f"),
    "psnr": ("PSNR (dB)", 12, ".2f"),
    "ssim": ("SSIM", 10, ".4f"),
    "fid": ("FID", 10, ".4g"),
}


def _rows(results: dict) -> str:
    """A table of a model's row and its baselines' with the metrics the model's row has."""
    shown = [k for k in COLUMNS if k in results["model"]]
    lines = [f"{'':<24}" + "".join(f"{COLUMNS[k][0]:>{COLUMNS[k][1]}}" for k in shown)]
    for name, r in results.items():
        if isinstance(r, dict):
            cells = (f"{r[k]:>{COLUMNS[k][1]}{COLUMNS[k][2]}}" if k in r else f"{'-':>{COLUMNS[k][1]}}" for k in shown)
            lines.append(f"{name:<24}" + "".join(cells))
    return "\n".join(lines)


def _format_unconditional(r: dict) -> str:
    lines = [
        f"{r['images']} generated images against {r['real_images']} real ones, {r['extractor']} features "
        f"(checkpoint step {r.get('step', '?')})",
        f"{'FID':>10}{'KID':>10}{'precision':>11}{'recall':>9}{'density':>9}{'coverage':>10}",
        f"{r['fid']:>10.3f}{r['kid']:>10.4f}{r['precision']:>11.3f}{r['recall']:>9.3f}{r['density']:>9.3f}"
        f"{r['coverage']:>10.3f}",
    ]
    m = r.get("memorisation")
    if m:
        lines.append(
            f"memorisation: {m['near_copies']:.1%} of the images are near-copies of a training image (median "
            f"distance to the nearest one {m['median_ratio']:.2f} x the training images' own; 1 is new, 0 a copy)"
        )
    if r.get("note"):
        lines.append(f"note: {r['note']}")
    c = r.get("classes")
    if c:
        lines.append(
            f"classifier view: {c['coverage']} of {c['classes']} classes covered, mean confidence "
            f"{c['mean_confidence']:.3f} (the classifier reads real images {c['classifier_accuracy_on_reals']:.0%} "
            f"right); histogram {c['histogram']}"
        )
    k = r.get("conditional")
    if k and k.get("label_accuracy") is not None:
        lines.append(
            f"asked for each class in turn: read as the class asked for {k['label_accuracy']:.1%} of the time; by "
            f"class {[round(a, 2) for a in k['label_accuracy_per_class']]}"
        )
    if k and k.get("intra_fid") is not None:
        lines.append(f"intra-class FID (each class against its reals, mean): {k['intra_fid']:.3f}")
    return "\n".join(lines)
