"""Seed 004's cure for mode collapse inside the discriminator: layers that let D see a whole minibatch, so
that a generator making one kind of image is caught by how alike its images are.

- `MinibatchStd` (Karras et al. 2018, "Progressive growing of GANs"): one extra feature, the standard
  deviation of every feature over a group of images, averaged.
- `MinibatchDiscrimination` (Salimans et al. 2016, "Improved techniques for training GANs", section 3.2):
  B extra features per image, each the summed closeness of its projection to the other images'.
- `discriminator_head`: D's last layer with either or both in front of it, for the unconditional families.
"""

from __future__ import annotations

import torch
from torch import nn


def _group_size(batch: int, wanted: int) -> int:
    """The largest divisor of the batch not above `wanted`, so that groups are equal."""
    return max(g for g in range(1, min(wanted, batch) + 1) if batch % g == 0)


class MinibatchStd(nn.Module):
    """Appends one feature map (or feature): the standard deviation of each feature and position over the
    images of a group of `group_size`, averaged over features and positions, one value per group."""

    def __init__(self, group_size: int = 4):
        super().__init__()
        self.group_size = group_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = x.shape[0]
        g = _group_size(n, self.group_size)
        grouped = x.float().reshape(g, n // g, *x.shape[1:])  # image i is in group i % (n // g)
        std = (grouped.var(dim=0, unbiased=False) + 1e-8).sqrt()  # (n // g, C, ...)
        value = std.flatten(1).mean(1).to(x.dtype)  # (n // g,)
        extra = value.repeat(g).reshape(n, 1, *([1] * (x.dim() - 2))).expand(n, 1, *x.shape[2:])
        return torch.cat([x, extra], dim=1)


class MinibatchDiscrimination(nn.Module):
    """Features f (N, A) -> [f, o] (N, A + B): M_i = f_i T (B rows of C), c_b(i, j) = exp(-|M_i,b - M_j,b|_1),
    o_b(i) = sum over the other images j of c_b(i, j)."""

    def __init__(self, in_features: int, kernels: int, kernel_dim: int = 5):
        super().__init__()
        self.kernels, self.kernel_dim = kernels, kernel_dim
        self.T = nn.Parameter(torch.randn(in_features, kernels * kernel_dim) * 0.1)

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        m = (f @ self.T).view(-1, self.kernels, self.kernel_dim)  # (N, B, C)
        l1 = (m.unsqueeze(0) - m.unsqueeze(1)).abs().sum(-1)  # (N, N, B)
        o = torch.exp(-l1).sum(1) - 1.0  # the image itself contributes exp(0) = 1
        return torch.cat([f, o], dim=1)


def discriminator_head(
    channels: int, side: int, minibatch_std: bool, kernels: int, conv_last: bool = False, dropout: float | None = None
) -> list[nn.Module]:
    """D's last layers on features (N, channels, side, side): one logit per image.

    Without the minibatch layers they are exactly the family's own (a side x side convolution for the
    DCGAN guidelines, `conv_last`; else flatten, dropout, linear), so counts and checkpoints do not change.
    """
    layers: list[nn.Module] = []
    if minibatch_std:
        layers.append(MinibatchStd())
        channels += 1
    if conv_last and not kernels:
        return [*layers, nn.Conv2d(channels, 1, side, bias=False), nn.Flatten()]
    features = channels * side * side
    layers.append(nn.Flatten())
    if dropout is not None:
        layers.append(nn.Dropout(dropout))
    if kernels:
        layers.append(MinibatchDiscrimination(features, kernels))
        features += kernels
    return [*layers, nn.Linear(features, 1)]
