"""Model families by name (`FAMILIES`): each builds a (generator, discriminator) pair from the config."""

from __future__ import annotations

from dataclasses import replace

import torch
from torch import nn

from ..config import Config
from ..errors import UserError
from . import cyclegan, dcgan, pix2pix, r3gan, srgan, unet  # noqa: F401  (each registers its families)
from .conditional import ConditionalGenerator, ProjectionDiscriminator
from .contract import InferenceContract
from .family import FAMILIES, Family, register_family
from .layers import count_parameters, init_weights

__all__ = [
    "FAMILIES",
    "Family",
    "InferenceContract",
    "build_models",
    "count_parameters",
    "family_of",
    "generator_output_size",
    "inference_contract",
    "init_weights",
    "noise",
    "register_family",
]


def family_of(cfg: Config) -> Family:
    return FAMILIES.get(cfg.model.family)


def generator_output_size(cfg: Config) -> int:
    """The side of G's output for the run's input size (smaller than it for an unpadded U-Net)."""
    return family_of(cfg).output_size(cfg)


def inference_contract(cfg: Config) -> InferenceContract:
    """The family's contract, running G's moving average when `train.ema` keeps one."""
    contract = family_of(cfg).inference(cfg)
    return replace(contract, weights="g_ema") if cfg.train.ema > 0 else contract


def noise(
    cfg: Config, n: int, generator: torch.Generator | None = None, device: torch.device | None = None
) -> torch.Tensor:
    """`n` latent vectors of a noise-to-image family: standard normal, `model.latent_dim` wide."""
    return torch.randn(n, cfg.model.latent_dim, generator=generator, device=device)


def build_models(cfg: Config) -> tuple[nn.Module, nn.Module]:
    """The generator and discriminator of `cfg.model.family`, initialised with its `model.init` scheme;
    with `model.spectral_norm`, every convolution and linear layer of D is spectrally normalised."""
    conditional = cfg.conditional
    if conditional and cfg.model.num_classes < 1:
        raise UserError(
            "model.num_classes is 0: a conditional model takes its number of classes from the data when it trains; "
            "set model.num_classes=N to build it without training (ganforge info)"
        )
    # a conditional G's network takes the noise and the class embedding, side by side
    wide = replace(cfg, model=replace(cfg.model, latent_dim=2 * cfg.model.latent_dim)) if conditional else cfg
    g, d = family_of(wide).build(wide)
    scheme = getattr(cfg.model, "init", "torch")
    init_weights(g, scheme)
    init_weights(d, scheme)
    if conditional:
        g = ConditionalGenerator(g, cfg.model.num_classes, cfg.model.latent_dim)
        d = ProjectionDiscriminator(d, cfg.model.num_classes)
    if cfg.model.spectral_norm:
        for m in list(d.modules()):
            if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
                nn.utils.parametrizations.spectral_norm(m)
    return g, d
