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
from collections.abc import Callable

import torch
from torch import nn

BLOCK_ELEMENTS = 2**25  # distances computed at once (256 MB in float64)


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
        metric.set_dtype(torch.float64)  # float32 sums differ in their last digits with memory layout
        metric.update(real.double(), real=True)
        metric.update(fake.double(), real=False)
        mean, std = metric.compute()
    return float(mean), float(std)


def _by_rows(a: torch.Tensor, b: torch.Tensor, reduce: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
    """`reduce(distances)` of each block of rows of the (len(a), len(b)) distance matrix, joined: no
    more than about 256 MB of distances at once, whatever the number of images."""
    a, b = a.double(), b.double()
    chunk = max(1, BLOCK_ELEMENTS // max(len(b), 1))
    parts = [reduce(torch.cdist(a[i : i + chunk], b)) for i in range(0, len(a), chunk)]
    return torch.cat(parts)


def _radii(features: torch.Tensor, k: int) -> torch.Tensor:
    """Distance of each point to its k-th nearest neighbour in its own set (itself excluded)."""
    return _by_rows(features, features, lambda d: d.kthvalue(k + 1, dim=1).values)


def precision_recall(real: torch.Tensor, fake: torch.Tensor, k: int = 3) -> tuple[float, float]:
    """Precision: the share of fakes inside the real manifold (a union of k-NN balls around the reals);
    recall: the share of reals inside the fake manifold."""
    real_radii, fake_radii = _radii(real, k), _radii(fake, k)
    precision = _by_rows(fake, real, lambda d: (d <= real_radii[None, :]).any(dim=1)).double().mean()
    recall = _by_rows(real, fake, lambda d: (d <= fake_radii[None, :]).any(dim=1)).double().mean()
    return float(precision), float(recall)


def density_coverage(real: torch.Tensor, fake: torch.Tensor, k: int = 5) -> tuple[float, float]:
    """Density: how many real k-NN balls each fake falls in, on average, over k (1 for a match of the
    real distribution); coverage: the share of reals whose ball holds at least one fake."""
    radii = _radii(real, k)
    density = _by_rows(fake, real, lambda d: (d <= radii[None, :]).sum(dim=1)).double().sum() / (k * len(fake))
    nearest_fake = _by_rows(real, fake, lambda d: d.min(dim=1).values)
    coverage = (nearest_fake <= radii).double().mean()
    return float(density), float(coverage)


def compare(real: torch.Tensor, fake: torch.Tensor) -> dict[str, float]:
    """Every metric of this module for two sets of features. The k-NN metrics take as many fakes as reals
    (the first ones): their values depend on the sizes of the two sets, and the papers use equal sizes."""
    kid_mean, kid_std = kid(real, fake)
    n = min(len(real), len(fake))
    precision, recall = precision_recall(real[:n], fake[:n], k=min(3, n - 1))  # fewer neighbours on a tiny set
    density, coverage = density_coverage(real[:n], fake[:n], k=min(5, n - 1))
    return {
        "fid": fid(real, fake),
        "kid": kid_mean,
        "kid_std": kid_std,
        "precision": precision,
        "recall": recall,
        "density": density,
        "coverage": coverage,
    }
