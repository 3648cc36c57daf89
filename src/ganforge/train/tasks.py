"""What differs between a noise-to-image GAN and an image-to-image GAN, and nothing else.

A task says how a batch splits into (condition, real images), how the generator makes fakes, how the
discriminator judges images (alone, or paired with their condition), which reconstruction losses the
generator adds, and what the sample grid shows. The training loop in `loop.py` owns everything else.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..config import Config
from ..data.augment import random_jitter
from ..data.degrade import degrade, parse_degradations
from ..metrics import image as image_metrics
from ..models import generator_output_size
from ..models.unet import center_crop


class UnconditionalTask:
    """Seeds 001, 003, 004: G maps Gaussian noise to images; D judges an image alone."""

    def __init__(self, cfg: Config):
        self.latent_dim = cfg.model.latent_dim
        self.grid_size = cfg.train.grid_size

    def split(self, batch: torch.Tensor) -> tuple[None, torch.Tensor]:
        return None, batch

    def generate(self, g: nn.Module, cond: None, n: int, device: torch.device) -> torch.Tensor:
        return g(torch.randn(n, self.latent_dim, device=device))

    def discriminate(self, d: nn.Module, cond: None, images: torch.Tensor) -> torch.Tensor:
        return d(images)

    def reconstruction_losses(self, fake: torch.Tensor, real: torch.Tensor, cond: None) -> dict[str, torch.Tensor]:
        return {}

    def fixed_inputs(self, dataset, seed: int) -> torch.Tensor:
        """The noise of the sample grid, kept for the whole run (and in its checkpoints)."""
        gen = torch.Generator().manual_seed(seed)
        return torch.randn(self.grid_size**2, self.latent_dim, generator=gen)

    def sample_grid(self, g: nn.Module, fixed: torch.Tensor, device: torch.device) -> tuple[torch.Tensor, int]:
        return g(fixed.to(device)), self.grid_size


class PairedTask:
    """Seeds 000 and 002: G translates or restores an input image; D judges (input, image) pairs
    (`model.d_conditional`, pix2pix) or images alone (seed 002); G adds weighted reconstruction losses.

    With `data.degrade` the batches are clean images and the inputs are made from them on the fly.
    An unpadded U-Net's output is smaller than its input: targets are centre-cropped to it.
    """

    def __init__(self, cfg: Config, dataset=None):
        self.cfg = cfg
        # a data set may forbid mirroring and cropping (shapes: its light comes from the upper left)
        self.jitter = cfg.data.jitter and not cfg.data.degrade and getattr(dataset, "jitter_ok", True)
        self.degradations = parse_degradations(cfg.data.degrade) if cfg.data.degrade else []
        self.out_size = generator_output_size(cfg)
        self.grid_rows = min(cfg.train.grid_size, 8)

    def split(self, batch) -> tuple[torch.Tensor, torch.Tensor]:
        if self.degradations:
            target = batch
            inp = degrade(target, self.degradations)
        else:
            inp, target = batch
            if self.jitter:
                inp, target = random_jitter(inp, target, self.cfg.data.image_size)
        return inp, center_crop(target, (self.out_size, self.out_size))

    def generate(self, g: nn.Module, cond: torch.Tensor, n: int, device: torch.device) -> torch.Tensor:
        return g(cond)

    def discriminate(self, d: nn.Module, cond: torch.Tensor, images: torch.Tensor) -> torch.Tensor:
        if self.cfg.model.d_conditional:
            return d(torch.cat([center_crop(cond, images.shape), images], dim=1))
        return d(images)

    def reconstruction_losses(
        self, fake: torch.Tensor, real: torch.Tensor, cond: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        """The terms whose weight in `cfg.loss` is not zero, unweighted (the loop weights them)."""
        w, fake, real = self.cfg.loss, fake.float(), real.float()
        losses = {}
        if w.l1:
            losses["l1"] = F.l1_loss(fake, real)
        if w.ssim:
            losses["ssim"] = image_metrics.ssim_loss(fake, real)
        if w.gmsd:
            losses["gmsd"] = image_metrics.gmsd_loss(fake, real)
        if w.tv:
            losses["tv"] = image_metrics.tv_loss(fake)
        return losses

    def fixed_inputs(self, dataset, seed: int) -> list[torch.Tensor]:
        """The first pairs of the validation split: [inputs, targets]."""
        from ..data import build_pairs

        held_out = build_pairs(self.cfg, "val")
        pairs = [held_out[i] for i in range(min(self.grid_rows, len(held_out)))]
        return [torch.stack([p[0] for p in pairs]), torch.stack([p[1] for p in pairs])]

    def sample_grid(self, g: nn.Module, fixed: list[torch.Tensor], device: torch.device) -> tuple[torch.Tensor, int]:
        """Rows of input | output | target."""
        inp, target = fixed[0].to(device), fixed[1].to(device)
        out = g(inp).clamp(-1, 1)
        inp, target = center_crop(inp, out.shape), center_crop(target, out.shape)
        shown = inp if inp.shape[1] == out.shape[1] else inp.mean(1, keepdim=True).expand_as(out)
        return torch.stack([shown, out, target], dim=1).flatten(0, 1), 3
