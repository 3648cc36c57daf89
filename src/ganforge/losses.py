"""Adversarial losses on discriminator logits.

The discriminator loss is the mean over the combined batch of reals and fakes (half the sum of the two
parts), so that for `bce` the value log 2 = 0.69 means "no better than chance" (seed 000), and it matches
the pix2pix paper's halving of D's objective.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def d_loss_parts(kind: str, real: torch.Tensor, fake: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The discriminator's loss on real logits (target 1) and on fake logits (target 0)."""
    real, fake = real.float(), fake.float()
    if kind == "bce":
        return F.softplus(-real).mean(), F.softplus(fake).mean()
    if kind == "lsgan":
        return ((real - 1) ** 2).mean(), (fake**2).mean()
    if kind == "hinge":
        return F.relu(1 - real).mean(), F.relu(1 + fake).mean()
    raise ValueError(f"unknown GAN loss {kind!r}")


def g_loss(kind: str, fake: torch.Tensor) -> torch.Tensor:
    """The generator's loss: its fakes' logits against the 'real' label (non-saturating for bce)."""
    fake = fake.float()
    if kind == "bce":
        return F.softplus(-fake).mean()
    if kind == "lsgan":
        return ((fake - 1) ** 2).mean()
    if kind == "hinge":
        return -fake.mean()
    raise ValueError(f"unknown GAN loss {kind!r}")
