"""Model families by name: each builds a (generator, discriminator) pair from the config."""

from __future__ import annotations

from torch import nn

from ..config import Config
from ..errors import UserError
from . import dcgan, pix2pix, unet
from .layers import count_parameters, init_weights

__all__ = ["build_models", "count_parameters", "generator_output_size", "init_weights"]


def generator_output_size(cfg: Config) -> int:
    """The side of G's output for the run's input size (smaller than it for an unpadded U-Net)."""
    m = cfg.model
    if m.family == "unet":
        return unet.check_unet_size(cfg.data.image_size, m.n_levels, m.padding)
    return cfg.data.image_size


def build_models(cfg: Config) -> tuple[nn.Module, nn.Module]:
    """The generator and discriminator of `cfg.model.family`, initialised with `cfg.model.init`."""
    m, d = cfg.model, cfg.data
    if m.family == "dcgan-mnist":
        if d.image_size != 28:
            raise UserError(
                f"dcgan-mnist makes 28x28 images, not data.image_size={d.image_size}; "
                "drop --image-size or use the dcgan preset for 32/64/128"
            )
        g = dcgan.MnistGenerator(m.latent_dim, d.channels, m.width, m.leaky_slope)
        disc = dcgan.MnistDiscriminator(d.channels, m.width, m.leaky_slope, m.d_dropout)
    elif m.family == "dcgan-128":
        if d.image_size != 128:
            raise UserError(
                f"dcgan-128 makes 128x128 images, not data.image_size={d.image_size}; "
                "drop --image-size or use the dcgan preset for 32/64"
            )
        g = dcgan.Generator128(m.latent_dim, d.channels, m.width, m.leaky_slope)
        disc = dcgan.Discriminator128(d.channels, m.width, m.leaky_slope, m.d_dropout)
    elif m.family == "dcgan":
        g = dcgan.DCGANGenerator(m.latent_dim, d.channels, d.image_size, m.width)
        disc = dcgan.DCGANDiscriminator(d.channels, d.image_size, m.width, m.leaky_slope)
    elif m.family == "pix2pix":
        if cfg.task != "paired":
            raise UserError("model.family=pix2pix translates images: set task to 'paired' (the pix2pix preset does)")
        g, disc = pix2pix.build_pix2pix(
            d.in_channels, d.channels, d.image_size, m.width, m.g_dropout, m.leaky_slope, init="torch"
        )  # initialised below with the others
    elif m.family == "unet":
        if cfg.task != "paired":
            raise UserError("model.family=unet restores images: set task to 'paired' (the unet-restore preset does)")
        g = unet.UNetGenerator(d.in_channels, d.channels, m.n_levels, m.padding, m.batch_norm, m.up_mode, m.n_channels)
        d_in = d.channels + (d.in_channels if m.d_conditional else 0)
        disc = unet.DoubleConvDiscriminator(
            d_in, generator_output_size(cfg), m.width, m.batch_norm, leaky_slope=m.leaky_slope
        )
    else:
        raise UserError(f"model.family={m.family!r} is not built here yet")
    init_weights(g, m.init)
    init_weights(disc, m.init)
    return g, disc
