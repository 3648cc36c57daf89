"""The losses of a GAN, by name: adversarial losses, the generator's reconstruction terms, and penalties.

- `ADVERSARIAL_LOSSES` (`loss.gan`): classes that turn D's raw outputs into D's and G's losses.
- `RECONSTRUCTION_LOSSES`: paired tasks' terms of G(x) against the target, each weighted by `loss.<name>`
  and on when its weight is not zero.
- `PENALTIES`: builders of D regularisers from the config; a penalty with an interval above 1 runs as a
  lazy phase of its own (train/objective.py).

The discriminator loss is the mean over the combined batch of reals and fakes (half the sum of the two
parts), so that for `bce` the value log 2 = 0.69 means "no better than chance" (seed 000), and it matches
the pix2pix paper's halving of D's objective.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

import torch
import torch.nn.functional as F

from .metrics import image as image_metrics
from .registry import Registry

if TYPE_CHECKING:
    from .config import Config, LossConfig


class AdversarialLoss:
    """D's and G's losses on D's raw outputs (one or more scores per image).

    `logistic`: the outputs are logits, so sigmoid(output) is D's probability that an image is real and
    the metrics D(x), D(G(z)) are probabilities; otherwise the mean raw scores are logged.
    `chance`: the value of D's loss and of G's adversarial loss when D cannot tell reals from fakes (the
    reference line of the loss plot), or None.
    `g_needs_real`: G's loss also needs D's outputs on the real batch (relativistic losses).
    """

    logistic: ClassVar[bool] = False
    chance: ClassVar[float | None] = None
    g_needs_real: ClassVar[bool] = False

    def __init__(self, cfg: LossConfig):
        self.cfg = cfg

    def d_loss(self, real: torch.Tensor, fake: torch.Tensor) -> dict[str, torch.Tensor]:
        """{"d_loss": the loss to minimise, and its parts by name}."""
        real_part, fake_part = self.d_parts(real.float(), fake.float())
        return {"d_loss": 0.5 * (real_part + fake_part), "d_loss_real": real_part, "d_loss_fake": fake_part}

    def d_parts(self, real: torch.Tensor, fake: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError

    def g_loss(self, fake: torch.Tensor, real: torch.Tensor | None = None) -> torch.Tensor:
        raise NotImplementedError


ADVERSARIAL_LOSSES: Registry[type[AdversarialLoss]] = Registry("adversarial loss", key="loss.gan")


@ADVERSARIAL_LOSSES.register("bce")
class BCELoss(AdversarialLoss):
    """Binary cross-entropy on logits (Goodfellow et al.), G's loss non-saturating: -log D(G(z))."""

    logistic = True
    chance = math.log(2)

    def d_parts(self, real, fake):
        return F.softplus(-real).mean(), F.softplus(fake).mean()

    def g_loss(self, fake, real=None):
        return F.softplus(-fake.float()).mean()


@ADVERSARIAL_LOSSES.register("lsgan")
class LeastSquaresLoss(AdversarialLoss):
    """Least squares (Mao et al. 2017): reals to 1, fakes to 0; G pulls its fakes to 1."""

    def d_parts(self, real, fake):
        return ((real - 1) ** 2).mean(), (fake**2).mean()

    def g_loss(self, fake, real=None):
        return ((fake.float() - 1) ** 2).mean()


@ADVERSARIAL_LOSSES.register("hinge")
class HingeLoss(AdversarialLoss):
    """Hinge (Lim and Ye 2017, Miyato et al. 2018): D pushes reals above 1 and fakes below -1; G raises D(G(z))."""

    def d_parts(self, real, fake):
        return F.relu(1 - real).mean(), F.relu(1 + fake).mean()

    def g_loss(self, fake, real=None):
        return -fake.float().mean()


def build_adversarial_loss(cfg: Config) -> AdversarialLoss:
    return ADVERSARIAL_LOSSES.get(cfg.loss.gan)(cfg.loss)


# ------------------------------------------------------------------------------------ reconstruction


ReconstructionLoss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
RECONSTRUCTION_LOSSES: Registry[ReconstructionLoss] = Registry("reconstruction loss")
RECONSTRUCTION_LOSSES.register("l1", lambda fake, real: F.l1_loss(fake, real))
RECONSTRUCTION_LOSSES.register("ssim", image_metrics.ssim_loss)
RECONSTRUCTION_LOSSES.register("gmsd", image_metrics.gmsd_loss)
RECONSTRUCTION_LOSSES.register("tv", lambda fake, real: image_metrics.tv_loss(fake))


def reconstruction_weights(cfg: Config) -> dict[str, float]:
    """The registered terms whose weight `loss.<name>` is set and not zero."""
    weights = {name: getattr(cfg.loss, name, 0.0) for name in RECONSTRUCTION_LOSSES}
    return {name: w for name, w in weights.items() if w}


# ------------------------------------------------------------------------------------------ penalties


@dataclass
class Penalty:
    """A regulariser of D: `fn(discriminate, real, fake)` with `discriminate(images) -> D's outputs`.

    With `interval` 1 it is added to D's loss at every D step; with a larger interval it runs as its own
    lazy phase every `interval` steps, its weight multiplied by the interval (StyleGAN2's lazy R1).
    `uses_fakes`: a lazy phase makes fakes for it only if it says so (R1 needs reals alone; `fake` is
    None then).
    """

    name: str
    weight: float
    fn: Callable[[Callable[[torch.Tensor], torch.Tensor], torch.Tensor, torch.Tensor | None], torch.Tensor]
    interval: int = 1
    uses_fakes: bool = False


PENALTIES: Registry[Callable[[Config], Penalty | None]] = Registry("penalty")


def build_penalties(cfg: Config) -> list[Penalty]:
    """The penalties the config switches on: each registered builder returns one, or None when off."""
    return [p for p in (build(cfg) for build in map(PENALTIES.get, PENALTIES)) if p is not None]
