"""A Keras-style layer summary of a network: each leaf layer's output shape and parameter count."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ..config import Config
from ..models import generator_output_size
from ..models.layers import count_parameters


def example_inputs(cfg: Config, which: str, n: int = 2) -> tuple[torch.Tensor, ...]:
    """A batch that the generator (`which="g"`) or discriminator (`"d"`) of `cfg` accepts."""
    s = cfg.data.image_size
    if cfg.task == "unconditional":
        return (torch.zeros(n, cfg.model.latent_dim),) if which == "g" else (torch.zeros(n, cfg.data.channels, s, s),)
    if which == "g":
        return (torch.zeros(n, cfg.data.in_channels, s, s),)
    out = generator_output_size(cfg)
    channels = cfg.data.channels + (cfg.data.in_channels if cfg.model.d_conditional else 0)
    return (torch.zeros(n, channels, out, out),)


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
        net(*example_inputs(cfg, which))
    net.train(was_training)
    for h in hooks:
        h.remove()
    return {
        "layers": rows,
        "parameters": count_parameters(net),
        "parameters_with_bn_stats": count_parameters(net, with_bn_stats=True),
    }
