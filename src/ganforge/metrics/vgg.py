"""VGG19 features and the perceptual loss of super-resolution GANs, in plain torch (torchvision cannot be
imported beside the CPU torch build), with torchvision's published ImageNet weights.

A pixel loss alone pulls a super-resolved image towards the blurry mean of the sharp images that fit its
low-resolution input. SRGAN (Ledig et al. 2017) compares G(x) with the target in the feature space of an
ImageNet VGG19 instead (the "content loss"), which asks for the same textures and edges rather than the
same pixels. ESRGAN (Wang et al. 2018) takes the features before the ReLU: after it the deep layers are
sparse and weak, and the loss then gives little guidance and shifts the brightness. The layers and weights
are the ones Real-ESRGAN trains with (conv1_2 and conv2_2 at 0.1, conv3_4, conv4_4 and conv5_4 at 1), each
an L1 distance.

The module layout is torchvision's `vgg19().features`, so the published file loads by name once its
`classifier.*` keys are dropped. Images in [-1, 1] go to [0, 1] and are normalised with ImageNet's mean
and deviation, as the network was trained.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..data.download import cache_dir, fetch
from ..errors import UserError
from ..registry import RECONSTRUCTION_LOSSES

WEIGHTS_URL = "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth"
WEIGHTS_FILE = "vgg19-dcbb9e9d.pth"
WEIGHTS_SHA256_PREFIX = "dcbb9e9d"  # in the published file name, checked as torch.hub does

_CONFIG_E = ((64, 64), (128, 128), (256,) * 4, (512,) * 4, (512,) * 4)  # conv widths per block, a max pool after
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
PERCEPTUAL_WEIGHTS = {"conv1_2": 0.1, "conv2_2": 0.1, "conv3_4": 1.0, "conv4_4": 1.0, "conv5_4": 1.0}


class VGG19Features(nn.Module):
    """VGG19's convolutions (configuration E): images (N, 1 or 3, H, W) in [-1, 1] -> the named layers'
    outputs before their ReLU, e.g. ``net(images, ["conv1_2", "conv5_4"])``."""

    def __init__(self):
        super().__init__()
        layers: list[nn.Module] = []
        self.index: dict[str, int] = {}  # conv<block>_<n> -> its position in `features`
        cin = 3
        for block, widths in enumerate(_CONFIG_E, start=1):
            for n, cout in enumerate(widths, start=1):
                self.index[f"conv{block}_{n}"] = len(layers)
                layers += [nn.Conv2d(cin, cout, 3, padding=1), nn.ReLU()]
                cin = cout
            layers.append(nn.MaxPool2d(2, 2))
        self.features = nn.Sequential(*layers)
        # not in the state dict, so that the published file matches its keys exactly
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def forward(self, images: torch.Tensor, layers: Iterable[str]) -> dict[str, torch.Tensor]:
        wanted = {}
        for name in layers:
            if name not in self.index:
                raise ValueError(f"unknown VGG19 layer {name!r}; choose from {', '.join(self.index)}")
            wanted[self.index[name]] = name
        if images.dim() != 4 or images.shape[1] not in (1, 3):
            raise UserError(f"the VGG19 features need images (N, 1 or 3, H, W), got shape {tuple(images.shape)}")
        x = images.float()
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        x = ((x + 1) / 2 - self.mean) / self.std
        out: dict[str, torch.Tensor] = {}
        last = max(wanted, default=-1)
        for i, module in enumerate(self.features[: last + 1]):
            # a conv's backward does not need its output: the ReLU may overwrite it unless it is returned
            x = F.relu(x, inplace=i - 1 not in wanted) if isinstance(module, nn.ReLU) else module(x)
            if i in wanted:
                out[wanted[i]] = x
        return {name: out[name] for name in wanted.values()}  # in the order asked for


def _first_line(error: Exception) -> str:
    """torch's messages run over several lines (with terminal escapes); a UserError is one line."""
    return re.sub(r"\x1b\[[0-9;]*m", "", str(error)).strip().split("\n")[0].strip() or type(error).__name__


def _mismatch(expected: Mapping[str, torch.Tensor], state: object) -> str:
    """What keeps `state` from loading into a VGG19Features ('' when nothing does)."""
    if not isinstance(state, Mapping):
        return f"it holds a {type(state).__name__}, not a state dict"
    given = {k: v for k, v in state.items() if not str(k).startswith("classifier.")}
    missing = [k for k in expected if k not in given]
    extra = [str(k) for k in given if k not in expected]
    shapes = [
        f"{k} {tuple(v.shape) if isinstance(v, torch.Tensor) else type(v).__name__} "
        f"instead of {tuple(expected[k].shape)}"
        for k, v in given.items()
        if k in expected and (not isinstance(v, torch.Tensor) or v.shape != expected[k].shape)
    ]
    parts = [
        f"{what}: {', '.join(keys[:3])}{', ...' if len(keys) > 3 else ''}"
        for what, keys in (("missing keys", missing), ("unexpected keys", extra), ("wrong shapes", shapes))
        if keys
    ]
    return "; ".join(parts)


def load_vgg19(cache: Path | None = None, url: str = WEIGHTS_URL, sha256: str = WEIGHTS_SHA256_PREFIX) -> VGG19Features:
    """VGG19's features with torchvision's ImageNet weights, downloaded once into the cache (checked against
    ``sha256``, by default the prefix in the published file's name), in eval mode and frozen; offline, the
    error names the URL and where to put the file."""
    path = fetch(url, WEIGHTS_FILE, sha256=sha256, cache=cache)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise UserError(f"cannot read {path}: {_first_line(e)}; delete it and run again to download it anew") from None
    net = VGG19Features()
    problem = _mismatch(net.state_dict(), state)
    if problem:
        raise UserError(f"{path} is not torchvision's VGG19 weights ({problem}); replace it with the file from {url}")
    net.load_state_dict({k: v for k, v in state.items() if not k.startswith("classifier.")})
    return net.eval().requires_grad_(False)


def weights_path() -> Path:
    return cache_dir() / WEIGHTS_FILE


class PerceptualLoss(nn.Module):
    """sum over layers of weight * L1(VGG(fake), VGG(real)), in float32 whatever the autocast; the network is
    frozen, the gradient flows to `fake` only."""

    def __init__(self, net: VGG19Features, weights: Mapping[str, float] | None = None):
        super().__init__()
        self.weights = dict(PERCEPTUAL_WEIGHTS if weights is None else weights)
        if not self.weights:
            raise ValueError("PerceptualLoss needs at least one layer")
        unknown = [name for name in self.weights if name not in net.index]
        if unknown:
            raise ValueError(f"unknown VGG19 layers {unknown}; choose from {', '.join(net.index)}")
        self.net = net.eval().requires_grad_(False)

    def train(self, mode: bool = True) -> PerceptualLoss:
        super().train(mode)
        self.net.eval()
        return self

    def forward(self, fake: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
        with torch.autocast(fake.device.type, enabled=False):
            fake_features = self.net(fake.float(), self.weights)
            with torch.no_grad():
                real_features = self.net(real.float(), self.weights)
            terms = [w * F.l1_loss(fake_features[name], real_features[name]) for name, w in self.weights.items()]
            return torch.stack(terms).sum()


class LazyPerceptual:
    """The perceptual loss as a reconstruction term ``(fake, real) -> scalar``: the VGG is loaded (and, the
    first time ever, downloaded) at the first call, not at import, and follows the input's device."""

    def __init__(self, weights: Mapping[str, float] | None = None):
        self.weights = weights
        self._loss: PerceptualLoss | None = None

    def __call__(self, fake: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
        if self._loss is None:
            self._loss = PerceptualLoss(load_vgg19(), self.weights)
        if self._loss.net.mean.device != fake.device:
            self._loss.to(fake.device)
        return self._loss(fake, real)


RECONSTRUCTION_LOSSES.register("perceptual", LazyPerceptual())
