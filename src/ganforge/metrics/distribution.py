"""How close generated images are to real ones, as papers report it, computed on
features (extractors: metrics/features.py).

- FID (Heusel et al. 2017) and KID (Binkowski et al. 2018): torchmetrics computes both, from features
  passed through an identity "feature extractor" so that one set of features serves every metric.
- Precision and recall (Kynkaanniemi et al. 2019, k = 3) and density and coverage (Naeem et al. 2020,
  k = 5): written here, since torchmetrics has none of them; k-nearest-neighbour balls around each
  real (and, for recall, each generated) feature vector.
"""

from __future__ import annotations

import warnings

import torch
from torch import nn


class _Features(nn.Module):
    """Features given as they are, for torchmetrics' metrics that take a feature extractor."""

    def __init__(self, dim: int):
        super().__init__()
        self.num_features = dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


def fid(real: torch.Tensor, fake: torch.Tensor) -> float:
    """The Frechet distance between Gaussians fitted to two sets of features (N, D)."""
    from torchmetrics.image.fid import FrechetInceptionDistance

    metric = FrechetInceptionDistance(feature=_Features(real.shape[1]), normalize=False)
    metric.update(real.double(), real=True)
    metric.update(fake.double(), real=False)
    return float(metric.compute())


def kid(real: torch.Tensor, fake: torch.Tensor, subsets: int = 100, subset_size: int = 1000) -> tuple[float, float]:
    """Kernel distance (cubic polynomial kernel, unbiased MMD^2) over random subsets: (mean, std)."""
    from torchmetrics.image.kid import KernelInceptionDistance

    size = min(subset_size, len(real), len(fake))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "will save all extracted features": that is the intent
        metric = KernelInceptionDistance(feature=_Features(real.shape[1]), subsets=subsets, subset_size=size)
        metric.update(real.float(), real=True)
        metric.update(fake.float(), real=False)
        mean, std = metric.compute()
    return float(mean), float(std)


def _distances(a: torch.Tensor, b: torch.Tensor, chunk: int = 2048) -> torch.Tensor:
    return torch.cat([torch.cdist(part, b) for part in a.double().split(chunk)]) if len(a) else a.new_zeros(0, len(b))


def _radii(features: torch.Tensor, k: int) -> torch.Tensor:
    """Distance of each point to its k-th nearest neighbour in its own set (itself excluded)."""
    return _distances(features, features.double()).kthvalue(k + 1, dim=1).values


def precision_recall(real: torch.Tensor, fake: torch.Tensor, k: int = 3) -> tuple[float, float]:
    """Precision: the share of fakes inside the real manifold (a union of k-NN balls around the reals);
    recall: the share of reals inside the fake manifold."""
    real, fake = real.double(), fake.double()
    to_real = _distances(fake, real)  # (fakes, reals)
    real_radii, fake_radii = _radii(real, k), _radii(fake, k)
    precision = (to_real <= real_radii[None, :]).any(dim=1).double().mean()
    recall = (to_real.t() <= fake_radii[None, :]).any(dim=1).double().mean()
    return float(precision), float(recall)


def density_coverage(real: torch.Tensor, fake: torch.Tensor, k: int = 5) -> tuple[float, float]:
    """Density: how many real k-NN balls each fake falls in, on average, over k (1 for a match of the
    real distribution); coverage: the share of reals whose ball holds at least one fake."""
    radii = _radii(real.double(), k)
    inside = _distances(fake, real.double()) <= radii[None, :]  # (fakes, reals)
    density = inside.double().sum() / (k * len(fake))
    coverage = inside.any(dim=0).double().mean()
    return float(density), float(coverage)


def compare(real: torch.Tensor, fake: torch.Tensor) -> dict[str, float]:
    """Every metric of this module for two sets of features."""
    kid_mean, kid_std = kid(real, fake)
    precision, recall = precision_recall(real, fake)
    density, coverage = density_coverage(real, fake)
    return {
        "fid": fid(real, fake),
        "kid": kid_mean,
        "kid_std": kid_std,
        "precision": precision,
        "recall": recall,
        "density": density,
        "coverage": coverage,
    }
