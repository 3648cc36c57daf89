"""Class conditioning for any noise-to-image family, around its own networks (`model.conditional`).

G: the class's learned embedding (as wide as the noise) is joined to the noise vector, and the family's
generator is built for the wider input: G(z, y) = G'([z, E(y)]). Concatenation suits every family here,
the DCGANs' batch norm and R3GAN's modulated basis alike.
D: a projection head (Miyato and Koyama 2018): D(x, y) = D'(x) + <E'(y), h(x)>, h(x) the features that
enter D's last layer (its Linear, or the DCGAN's final 4x4 convolution, whose input is one 4x4 map), so
the class enters as an inner product with what D sees rather than as an input channel.
Without `model.conditional` the families' networks are built as they are, with their exact sizes.

`strength` (a buffer, 1 when trained) scales the class's part in both networks: 0 is an unconditional GAN.
On small data sets a class given from the first step collapses each class onto a few images (Shahbazi
et al., ICLR 2022, "Collapse by conditioning"); `model.condition_ramp` fades it in (train/schedules.py).
"""

from __future__ import annotations

import math

import torch
from torch import nn


def balanced_labels(n: int, classes: int, device: torch.device | None = None) -> torch.Tensor:
    """0, 1, ..., classes - 1, 0, 1, ...: the labels of `n` samples when none are asked for."""
    return torch.arange(n, device=device) % classes


class ConditionalGenerator(nn.Module):
    def __init__(self, g: nn.Module, classes: int, embed_dim: int):
        super().__init__()
        self.g, self.classes = g, classes
        self.embed = nn.Embedding(classes, embed_dim)
        nn.init.normal_(self.embed.weight)  # as wide and as large as the noise beside it
        self.register_buffer("strength", torch.ones(()))

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        if labels is None:
            labels = balanced_labels(z.shape[0], self.classes, z.device)
        return self.g(torch.cat([z, (self.strength * self.embed(labels)).to(z.dtype)], dim=1))


def _last_layer(d: nn.Module) -> nn.Conv2d | nn.Linear:
    layers = [m for m in d.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    if not layers or layers[-1].weight.shape[0] != 1:
        raise ValueError(f"{type(d).__name__}: its last layer must give one output for a projection head")
    return layers[-1]


class ProjectionDiscriminator(nn.Module):
    def __init__(self, d: nn.Module, classes: int):
        super().__init__()
        self.d, self.classes = d, classes
        last = _last_layer(d)
        features = last.weight[0].numel()
        self.embed = nn.Embedding(classes, features)
        nn.init.normal_(self.embed.weight, 0.0, 1.0 / math.sqrt(features))  # the scale of the last layer's weights
        self._features: torch.Tensor | None = None
        last.register_forward_pre_hook(self._keep)
        self.register_buffer("strength", torch.ones(()))

    def _keep(self, module: nn.Module, inputs: tuple[torch.Tensor, ...]) -> None:
        self._features = inputs[0]

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        out = self.d(x)
        h, self._features = self._features, None
        if labels is None:
            labels = balanced_labels(x.shape[0], self.classes, x.device)
        projection = ((self.strength * self.embed(labels)).to(h.dtype) * h.flatten(1)).sum(dim=1)
        return out + projection.view(out.shape)
