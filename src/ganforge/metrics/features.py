"""Feature extractors for the distribution metrics (metrics/distribution.py), registered by name.

- `inception`: the FID InceptionV3 (metrics/inception.py), downloaded once; the features papers report on.
- `own`: a small convolutional autoencoder trained on the run's own real images, its 64-number code as the
  features. It needs no download and suits data an ImageNet network was never shown (digits, shapes), but
  its numbers compare runs on one data set only: another data set trains another network. It is trained
  once, from a fixed seed, and saved in the run directory (features/own.pt), so that every evaluation of a
  run, during training and after, measures with the same network.
- `pixels`: the images themselves, pooled to 16x16: nothing to train or download. The own extractor needs
  64 real images to learn from; a smaller set (a few images, where copying is the risk) is scored here, and
  near-copies show in pixels as well as anywhere (distribution metrics on so few images mean little).

An extractor maps images (N, C, H, W) in [-1, 1] to features (N, D); `own` and `inception` also say how
many (`num_features`).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import UserError
from ..files import atomic_write
from ..registry import EXTRACTORS
from ..runs.layout import RunLayout
from . import inception
from .diversity import pooled_pixels

OWN_SIZE = 32  # the own extractor sees every image at 32x32
OWN_STEPS = 400
OWN_BATCH = 64


class OwnEncoder(nn.Module):
    """Encoder of a convolutional autoencoder: 32x32 -> 4x4 maps -> a code of `num_features` numbers."""

    def __init__(self, channels: int, num_features: int = 64, width: int = 16):
        super().__init__()
        self.channels, self.num_features = channels, num_features
        self.body = nn.Sequential(
            nn.Conv2d(channels, width, 4, 2, 1),
            nn.LeakyReLU(0.2),
            nn.Conv2d(width, width * 2, 4, 2, 1),
            nn.LeakyReLU(0.2),
            nn.Conv2d(width * 2, width * 4, 4, 2, 1),
            nn.LeakyReLU(0.2),
            nn.Flatten(),
            nn.Linear(width * 4 * 16, num_features),
        )

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = images.float()
        if x.shape[-2:] != (OWN_SIZE, OWN_SIZE):
            x = F.interpolate(x, size=(OWN_SIZE, OWN_SIZE), mode="bilinear", align_corners=False, antialias=True)
        return self.body(x)


def _decoder(channels: int, num_features: int = 64, width: int = 16) -> nn.Module:
    return nn.Sequential(
        nn.Linear(num_features, width * 4 * 16),
        nn.Unflatten(1, (width * 4, 4, 4)),
        nn.ConvTranspose2d(width * 4, width * 2, 4, 2, 1),
        nn.LeakyReLU(0.2),
        nn.ConvTranspose2d(width * 2, width, 4, 2, 1),
        nn.LeakyReLU(0.2),
        nn.ConvTranspose2d(width, channels, 4, 2, 1),
        nn.Tanh(),
    )


def train_own(reals: torch.Tensor, steps: int | None = None, seed: int = 0) -> OwnEncoder:
    """An autoencoder fitted to `reals` (N, C, H, W) in [-1, 1] by L1 reconstruction at 32x32; its encoder.
    Seeded and isolated from the caller's random streams; `steps` defaults to OWN_STEPS."""
    steps = OWN_STEPS if steps is None else steps
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        encoder, decoder = OwnEncoder(reals.shape[1]), _decoder(reals.shape[1])
        small = F.interpolate(reals.float(), size=(OWN_SIZE, OWN_SIZE), mode="bilinear", antialias=True)
        params = [*encoder.parameters(), *decoder.parameters()]
        opt = torch.optim.Adam(params, lr=2e-3)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
        for _ in range(steps):
            batch = small[torch.randint(len(small), (OWN_BATCH,))]
            batch = torch.where(torch.rand(len(batch), 1, 1, 1) < 0.5, batch, batch.flip(-1))
            loss = (decoder(encoder(batch)) - batch).abs().mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
    return encoder.eval().requires_grad_(False)


def own_extractor(run_dir: Path | None, reals: Callable[[], torch.Tensor], data_key: str) -> OwnEncoder:
    """The run's own extractor: read from RUN_DIR/features/own.pt when it was trained on the same data
    (`data_key`), else trained on `reals()` and saved there."""
    path = RunLayout(run_dir).own_features if run_dir is not None else None
    if path is not None and path.is_file():
        saved = _read_own(path)
        if saved.get("data") == data_key:
            try:
                net = OwnEncoder(saved["channels"], saved["num_features"])
                net.load_state_dict(saved["weights"])
            except (KeyError, TypeError, ValueError, RuntimeError, AttributeError) as e:
                why = " ".join(str(e).split())[:120] or type(e).__name__
                raise UserError(
                    f"{path} is not the run's feature extractor ({why}); delete it and it is trained again"
                ) from None
            return net.eval().requires_grad_(False)
    net = train_own(reals())
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        payload = {"data": data_key, "channels": net.channels, "num_features": net.num_features}
        # a unique temporary name: training (--eval-every) and `ganforge evaluate` may both write it
        atomic_write(path, lambda f: torch.save(payload | {"weights": net.state_dict()}, f))
    return net


def _read_own(path: Path) -> dict:
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        why = " ".join(str(e).split())[:120] or type(e).__name__
        raise UserError(f"cannot read {path}: {why}; delete it and it is trained again") from None
    if not isinstance(saved, dict):
        raise UserError(f"{path} is not the run's feature extractor; delete it and it is trained again")
    return saved


def _inception(run_dir: Path | None, reals: Callable[[], torch.Tensor], data_key: str) -> nn.Module:
    return inception.load_inception(url=inception.WEIGHTS_URL, sha256=inception.WEIGHTS_SHA256_PREFIX)


class PixelFeatures(nn.Module):
    """Images (N, C, H, W) -> their pixels pooled to 16x16 (area average), flattened (metrics/diversity.py)."""

    def __init__(self):
        super().__init__()
        self.register_buffer("anchor", torch.zeros(()))  # where `extract` reads the device from

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return pooled_pixels(images)


def _pixels(run_dir: Path | None, reals: Callable[[], torch.Tensor], data_key: str) -> nn.Module:
    return PixelFeatures()


EXTRACTORS.register("own", own_extractor)
EXTRACTORS.register("pixels", _pixels)
EXTRACTORS.register("inception", _inception)


def build_extractor(
    name: str, run_dir: Path | None, reals: Callable[[], torch.Tensor], data_key: str, device: torch.device
) -> nn.Module:
    return EXTRACTORS.get(name)(run_dir, reals, data_key).to(device)


@torch.no_grad()
def extract(net: nn.Module, images: torch.Tensor, batch_size: int = 100) -> torch.Tensor:
    """Features (N, D) on the CPU, in float64, for images (N, C, H, W) in [-1, 1] (on any device)."""
    device = next(itertools.chain(net.parameters(), net.buffers())).device
    parts = [net(part.to(device)).double().cpu() for part in images.split(batch_size)]
    return torch.cat(parts)
