"""Model families by name (`FAMILIES`): each builds a (generator, discriminator) pair from the config."""

from __future__ import annotations

from torch import nn

from ..config import Config
from . import dcgan, pix2pix, unet  # noqa: F401  (each registers its families)
from .family import FAMILIES, Family, InferenceContract, register_family
from .layers import count_parameters, init_weights

__all__ = [
    "FAMILIES",
    "Family",
    "InferenceContract",
    "build_models",
    "count_parameters",
    "family_of",
    "generator_output_size",
    "init_weights",
    "register_family",
]


def family_of(cfg: Config) -> Family:
    return FAMILIES.get(cfg.model.family)


def generator_output_size(cfg: Config) -> int:
    """The side of G's output for the run's input size (smaller than it for an unpadded U-Net)."""
    return family_of(cfg).output_size(cfg)


def build_models(cfg: Config) -> tuple[nn.Module, nn.Module]:
    """The generator and discriminator of `cfg.model.family`, initialised with its `model.init` scheme."""
    g, d = family_of(cfg).build(cfg)
    scheme = getattr(cfg.model, "init", "torch")
    init_weights(g, scheme)
    init_weights(d, scheme)
    return g, d
