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
from typing import ClassVar

import torch
import torch.nn.functional as F

from .config import Config, LossConfig
from .errors import UserError
from .metrics import image as image_metrics
from .metrics import vgg as _vgg  # noqa: F401  (registers "perceptual", VGG19 features, loaded on first use)
from .registry import ADVERSARIAL_LOSSES, PENALTIES, RECONSTRUCTION_LOSSES


class AdversarialLoss:
    """D's and G's losses on D's raw outputs (one or more scores per image).

    `logistic`: the outputs are logits, so sigmoid(output) is D's probability that an image is real and
    the metrics D(x), D(G(z)) are probabilities; otherwise the mean raw scores are logged.
    `chance`: the value of D's loss and of G's adversarial loss when D cannot tell reals from fakes (the
    reference line of the loss plot; health's d_wins and g_wins are judged against it), or None where the
    two networks' losses have no common reference (hinge, wgan-gp).
    `d_floor`: the least D's loss can be (above 0 when label smoothing keeps the real target below 1).
    `g_needs_real`: G's loss also needs D's outputs on the real batch (relativistic losses).
    `d_steps`: D steps per G step when `train.d_steps` is 0 (WGAN's n_critic).
    `midpoint`: D's output halfway between "real" and "fake" (adaptive augmentation reads D(x)'s side of it).
    """

    logistic: ClassVar[bool] = False
    chance: ClassVar[float | None] = None
    g_needs_real: ClassVar[bool] = False
    d_steps: ClassVar[int] = 1
    smoothable: ClassVar[bool] = False  # has a real label that `loss.label_smoothing` can lower
    midpoint: ClassVar[float] = 0.0

    def __init__(self, cfg: LossConfig):
        self.cfg = cfg
        self.real_label = 1.0 - cfg.label_smoothing

    @property
    def d_floor(self) -> float:
        return 0.0

    def d_loss(self, real: torch.Tensor, fake: torch.Tensor) -> dict[str, torch.Tensor]:
        """{"d_loss": the loss to minimise, and its parts by name}."""
        real_part, fake_part = self.d_parts(real.float(), fake.float())
        return {"d_loss": 0.5 * (real_part + fake_part), "d_loss_real": real_part, "d_loss_fake": fake_part}

    def d_parts(self, real: torch.Tensor, fake: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError

    def g_loss(self, fake: torch.Tensor, real: torch.Tensor | None = None) -> torch.Tensor:
        raise NotImplementedError


@ADVERSARIAL_LOSSES.register("bce")
class BCELoss(AdversarialLoss):
    """Binary cross-entropy on logits (Goodfellow et al.), G's loss non-saturating: -log D(G(z))."""

    logistic = True
    chance = math.log(2)

    smoothable = True

    @property
    def d_floor(self) -> float:
        """Half the real part's least value, the entropy of the target t: 0 without smoothing."""
        t = self.real_label
        return 0.0 if t >= 1 else -0.5 * (t * math.log(t) + (1 - t) * math.log(1 - t))

    def d_parts(self, real: torch.Tensor, fake: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        t = self.real_label  # cross-entropy with target t: t * softplus(-x) + (1 - t) * softplus(x)
        real_part = F.softplus(-real) if t == 1 else t * F.softplus(-real) + (1 - t) * F.softplus(real)
        return real_part.mean(), F.softplus(fake).mean()

    def g_loss(self, fake: torch.Tensor, real: torch.Tensor | None = None) -> torch.Tensor:
        return F.softplus(-fake.float()).mean()


@ADVERSARIAL_LOSSES.register("lsgan")
class LeastSquaresLoss(AdversarialLoss):
    """Least squares (Mao et al. 2017): reals to 1, fakes to 0; G pulls its fakes to 1. At chance D outputs
    1/2 everywhere and both losses are 1/4."""

    chance = 0.25
    smoothable = True
    midpoint = 0.5

    def d_parts(self, real: torch.Tensor, fake: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return ((real - self.real_label) ** 2).mean(), (fake**2).mean()

    def g_loss(self, fake: torch.Tensor, real: torch.Tensor | None = None) -> torch.Tensor:
        return ((fake.float() - 1) ** 2).mean()


@ADVERSARIAL_LOSSES.register("hinge")
class HingeLoss(AdversarialLoss):
    """Hinge (Lim and Ye 2017, Miyato et al. 2018): D pushes reals above 1 and fakes below -1; G raises D(G(z))."""

    def d_parts(self, real: torch.Tensor, fake: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return F.relu(1 - real).mean(), F.relu(1 + fake).mean()

    def g_loss(self, fake: torch.Tensor, real: torch.Tensor | None = None) -> torch.Tensor:
        return -fake.float().mean()


@ADVERSARIAL_LOSSES.register("wgan-gp")
class WassersteinLoss(AdversarialLoss):
    """WGAN (Arjovsky et al. 2017) with the gradient penalty of Gulrajani et al. 2017 (`loss.gp`, penalty
    "gp"): the critic maximises D(real) - D(fake), 5 critic steps per G step unless `train.d_steps` says.
    The paper's critic has no batch normalisation and trains with Adam 1e-4, betas (0, 0.9)."""

    d_steps = 5

    def d_loss(self, real: torch.Tensor, fake: torch.Tensor) -> dict[str, torch.Tensor]:
        real_part, fake_part = -real.float().mean(), fake.float().mean()
        return {"d_loss": real_part + fake_part, "d_loss_real": real_part, "d_loss_fake": fake_part}

    def g_loss(self, fake: torch.Tensor, real: torch.Tensor | None = None) -> torch.Tensor:
        return -fake.float().mean()


@ADVERSARIAL_LOSSES.register("rpgan")
class RelativisticPairingLoss(AdversarialLoss):
    """The relativistic pairing loss of R3GAN (Huang et al. 2024): each real is paired with a fake, D
    minimises softplus(D(fake) - D(real)) and G the reverse; meant with the zero-centred penalties
    `loss.r1` and `loss.r2`. At chance (equal scores) both losses are log 2."""

    chance = math.log(2)
    g_needs_real = True

    def d_loss(self, real: torch.Tensor, fake: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"d_loss": F.softplus(fake.float() - real.float()).mean()}

    def g_loss(self, fake: torch.Tensor, real: torch.Tensor | None = None) -> torch.Tensor:
        return F.softplus(real.float() - fake.float()).mean()


def build_adversarial_loss(cfg: Config) -> AdversarialLoss:
    kind = ADVERSARIAL_LOSSES.get(cfg.loss.gan)
    if not 0 <= cfg.loss.label_smoothing < 0.5:
        raise UserError(f"loss.label_smoothing={cfg.loss.label_smoothing} must be in [0, 0.5); 0.1 is usual")
    if cfg.loss.label_smoothing and not kind.smoothable:
        raise UserError(f"loss.label_smoothing needs a loss with labels (bce or lsgan), not loss.gan={cfg.loss.gan}")
    return kind(cfg.loss)


# ------------------------------------------------------------------------------------ reconstruction


ReconstructionLoss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
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


Discriminate = Callable[[torch.Tensor], torch.Tensor]


def _input_gradients(discriminate: Discriminate, x: torch.Tensor) -> torch.Tensor:
    """d(sum of D's outputs)/d(input) per image, flattened, with a graph for the penalty's own gradient."""
    x = x.detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(discriminate(x).float().sum(), x, create_graph=True)
    return grad.flatten(1)


def gradient_penalty(discriminate: Discriminate, real: torch.Tensor, fake: torch.Tensor | None) -> torch.Tensor:
    """E[(|grad D(x)| - 1)^2] at x on the segment between a real and a fake (Gulrajani et al. 2017)."""
    eps = torch.rand(real.shape[0], *([1] * (real.dim() - 1)), device=real.device, dtype=real.dtype)
    grad = _input_gradients(discriminate, eps * real + (1 - eps) * fake)
    return ((grad.norm(dim=1) - 1) ** 2).mean()


def zero_centred_penalty(discriminate: Discriminate, images: torch.Tensor) -> torch.Tensor:
    """1/2 E|grad D(x)|^2: R1 on reals, R2 on fakes (Mescheder et al. 2018); the weight is gamma."""
    return 0.5 * _input_gradients(discriminate, images).square().sum(dim=1).mean()


PENALTIES.register(
    "gp",
    lambda cfg: Penalty("gp", cfg.loss.gp, gradient_penalty, 1, uses_fakes=True) if cfg.loss.gan == "wgan-gp" else None,
)
PENALTIES.register(
    "r1",
    lambda cfg: (
        Penalty("r1", cfg.loss.r1, lambda d, real, fake: zero_centred_penalty(d, real), cfg.loss.reg_every)
        if cfg.loss.r1
        else None
    ),
)
PENALTIES.register(
    "r2",
    lambda cfg: (
        Penalty(
            "r2", cfg.loss.r2, lambda d, real, fake: zero_centred_penalty(d, fake), cfg.loss.reg_every, uses_fakes=True
        )
        if cfg.loss.r2
        else None
    ),
)


def build_penalties(cfg: Config) -> list[Penalty]:
    """The penalties the config switches on: each registered builder returns one, or None when off."""
    return [p for p in (build(cfg) for build in map(PENALTIES.get, PENALTIES)) if p is not None]
