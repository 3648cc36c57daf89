"""A run's generator exported for inference without ganforge: ONNX (onnxruntime and others) or TorchScript.

The exported network follows the family's inference contract (models/family.py): outputs clamped to
[-1, 1]; with `batch_statistics` (pix2pix) each BatchNorm normalises every input over its own pixels, as
the contract's one-input-at-a-time run does, whatever the batch size. One deviation: pix2pix keeps dropout
on at test time, and an exported file runs it off (an ONNX runtime would draw masks of its own).

Inputs: noise (N, latent_dim) for noise-to-image families, and for a conditional one a second input,
"label" (N,) int64 class numbers; images (N, C, H, W) in [-1, 1] for image-to-image ones (of an unpaired
run, either generator: `direction` AtoB or BtoA). The batch is
dynamic by default; a fully convolutional generator (the padded U-Net of seed 002, CycleGAN's ResNet, an
upscaler, whose output is `model.scale` times its input) also takes any height and width its depth allows.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import UserError
from ..files import atomic_write
from .generator import load

FORMATS = ("onnx", "torchscript")


class _PerInputBatchNorm(nn.Module):
    """BatchNorm in training mode on a batch of one input, for each input of a batch: instance
    normalisation with the layer's scale and shift (and Keras' single-value case: the shift)."""

    def __init__(self, bn: nn.BatchNorm2d):
        super().__init__()
        self.weight, self.bias, self.eps = bn.weight, bn.bias, bn.eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.instance_norm(x, weight=self.weight, bias=self.bias, eps=self.eps)


class ExportedGenerator(nn.Module):
    def __init__(self, g: nn.Module, batch_statistics: bool):
        super().__init__()
        self.g = g.eval()
        if batch_statistics:
            _replace_batchnorm(self.g)

    def forward(self, x: torch.Tensor, *label: torch.Tensor) -> torch.Tensor:
        return self.g(x, *label).float().clamp(-1, 1)


def _replace_batchnorm(module: nn.Module) -> None:
    for name, child in module.named_children():
        if isinstance(child, nn.BatchNorm2d):
            setattr(module, name, _PerInputBatchNorm(child))
        else:
            _replace_batchnorm(child)


def export_generator(
    run_dir: Path,
    fmt: str,
    out: Path,
    batch: str = "dynamic",
    ema: bool = False,
    checkpoint: str | None = None,
    direction: str | None = None,
) -> tuple[Path, tuple[int, ...]]:
    """Write the run's generator to `out` in `fmt`; returns the file and the example input's shape."""
    if fmt not in FORMATS:
        raise UserError(f"unknown --format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if batch != "dynamic" and not (batch.isdigit() and int(batch) > 0):
        raise UserError(f"--batch {batch!r}: give dynamic or a positive number")
    if out.is_dir():
        raise UserError(f"--out {out} is a folder; give a file name such as generator.{fmt.replace('script', '')}")
    if fmt == "onnx":
        try:
            import onnx  # noqa: F401  (torch.onnx writes through it)
        except ImportError:
            raise UserError("ONNX export needs the onnx package: pip install 'ganforge[export]'") from None
    g = load(run_dir, device="cpu", checkpoint=checkpoint)  # an EMA run's contract loads its EMA weights
    if ema and g.contract.weights != "g_ema":
        raise UserError(f"run {run_dir} kept no EMA weights (train.ema was 0); export without --ema")
    cfg = g.config
    if direction is not None and cfg.task == "unconditional":
        raise UserError("--direction is for image-to-image runs; this run generates from noise: drop it")
    net = g.net if cfg.task == "unconditional" else g.translator(direction or "AtoB")
    model = ExportedGenerator(net, g.contract.batch_statistics)
    # traced on one input whatever the batch (memory does not grow with it); a fixed batch is set after
    labels: tuple[torch.Tensor, ...] = ()
    if cfg.task == "unconditional":
        example = torch.randn(1, cfg.model.latent_dim)
        labels = (torch.zeros(1, dtype=torch.long),) if g.classes else ()
    else:
        s = cfg.data.image_size // (cfg.model.scale if cfg.task == "upscale" else 1)
        example = torch.rand(1, g.input_channels, s, s) * 2 - 1
    out.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # the exporters' notes on deprecations and tracing
        if fmt == "torchscript":  # a traced module takes any batch
            traced = torch.jit.trace(model, (example, *labels))
            atomic_write(out, lambda f: torch.jit.save(traced, f))
        else:
            axes = out_axes = {0: "batch"}
            if cfg.task == "unpaired" or cfg.task == "paired" and getattr(cfg.model, "padding", False):
                axes = out_axes = axes | {2: "height", 3: "width"}
            if cfg.task == "upscale":  # any size in, `scale` times it out
                axes, out_axes = axes | {2: "height", 3: "width"}, axes | {2: "out_height", 3: "out_width"}
            buffer = io.BytesIO()
            names = ["input", "label"][: 1 + len(labels)]
            torch.onnx.export(
                model, (example, *labels), buffer, input_names=names, output_names=["output"],
                dynamic_axes={"input": axes, "output": out_axes} | ({"label": {0: "batch"}} if labels else {}),
                dynamo=False,
            )  # fmt: skip
            atomic_write(out, _fixed_batch(buffer.getvalue(), int(batch)) if batch != "dynamic" else buffer.getvalue())
    shape = (1 if batch == "dynamic" else int(batch), *example.shape[1:])
    return out, shape


def _fixed_batch(model_bytes: bytes, batch: int) -> bytes:
    """An ONNX model whose input and output declare `batch` as their first dimension."""
    import onnx

    model = onnx.load_from_string(model_bytes)
    for value in [*model.graph.input, *model.graph.output]:
        value.type.tensor_type.shape.dim[0].dim_value = batch
    return model.SerializeToString()
