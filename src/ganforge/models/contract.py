"""How a trained generator is run: declared once per family (a `Family`'s `inference`, models/family.py)
and used by every path that runs one, in training (sample grids, evaluation) and out of it (inference/)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class InferenceContract:
    """How a trained generator makes outputs, defined once per family and used by every path that does:
    the sample grids of a run, `ganforge.load`, `sample`, `translate`, `evaluate` (and export).

    `batch_statistics`: normalise each input with its own statistics, one input at a time, without
    touching the running averages; the pix2pix paper and the TensorFlow tutorial run their generator so
    at test time. Otherwise BatchNorm uses its running averages (eval mode).
    `dropout`: keep dropout on (pix2pix again); its masks come from a generator seeded per input, so an
    output depends only on its input (inputs run one at a time whenever either is on). Outputs are
    clamped to [-1, 1], the images' range.
    `weights`: the checkpoint entry that holds the generator's weights.
    """

    batch_statistics: bool = False
    dropout: bool = False
    weights: str = "g"

    @contextmanager
    def modes(self, net: nn.Module) -> Iterator[None]:
        """The network's layers in this contract's modes; every module's mode is restored afterwards."""
        saved = [(m, m.training) for m in net.modules()]
        norms = [m for m in net.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
        tracking = [m.track_running_stats for m in norms]
        net.eval()
        if self.batch_statistics:
            for m in norms:
                m.train()
                m.track_running_stats = False  # batch statistics, and the running averages stay as they are
        if self.dropout:
            for m in net.modules():
                if isinstance(m, nn.modules.dropout._DropoutNd):
                    m.train()
        try:
            yield
        finally:
            for m, training in saved:
                m.training = training
            for m, track in zip(norms, tracking, strict=True):
                m.track_running_stats = track

    @torch.no_grad()
    def run(
        self, net: nn.Module, inputs: torch.Tensor, batch_size: int = 64, seed: int = 0,
        labels: torch.Tensor | None = None,
    ) -> torch.Tensor:  # fmt: skip
        """Outputs in [-1, 1] (float32, on the network's device) for a batch of noise vectors or images
        (and, for a conditional generator, the class of each: none asks for every class in turn).

        The caller's random streams are left as they were, so sampling inside training changes nothing.
        """
        device = next(net.parameters()).device
        one_by_one = self.batch_statistics or self.dropout  # so that an output depends on its input only
        forked = (
            [device.index if device.index is not None else torch.cuda.current_device()] if device.type == "cuda" else []
        )
        outputs = []
        with self.modes(net), torch.random.fork_rng(devices=forked):
            size = 1 if one_by_one else batch_size
            classes = labels.split(size) if labels is not None else [None] * len(inputs.split(size))
            for part, part_labels in zip(inputs.split(size), classes, strict=True):
                if self.dropout:
                    _seed(device, seed * 1_000_003)
                args = (part.to(device),) if part_labels is None else (part.to(device), part_labels.to(device))
                outputs.append(net(*args).float().clamp(-1, 1))
        return torch.cat(outputs) if outputs else torch.empty(0, device=device)


def _seed(device: torch.device, seed: int) -> None:
    """Seed the random stream that `device`'s kernels draw from (and no other device's)."""
    if device.type == "cuda":
        with torch.cuda.device(device):
            torch.cuda.manual_seed(seed)
    else:
        torch.random.default_generator.manual_seed(seed)
