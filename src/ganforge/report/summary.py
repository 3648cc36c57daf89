"""A Keras-style layer summary of a network: each leaf layer's output shape and parameter count."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ..config import Config
from ..models.layers import count_parameters
from ..train.tasks import TASKS


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
