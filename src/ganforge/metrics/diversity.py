"""How much of the real data's variety a generator keeps, measured in a feature space made from the data.

Features: images reduced to 16x16 (area average), projected on the first 32 principal components of the
real images and whitened. No network is downloaded or trained: the space is the real data's own main
directions of variation, which tell a data set's coarse modes apart (a nearest neighbour reads the
digits' classes there with about 94% accuracy, tests/metrics/test_diversity.py).

Bins: k-means (scikit-learn) splits the real images into 20 cells of that space, as in the NDB measure of
Richardson and Weiss 2018 ("On GANs and GMMs"). Generated images fall into the cell of their nearest
centre, and two numbers compare their shares with the reals':

- `ndb`: the fraction of cells whose share differs from the reals' by a two-proportion z-test at the 5%
  level (NDB/K; 0 for a second sample of reals, 1 when every cell is off).
- `diversity`: the entropy of the generated shares over the entropy of the real shares: 1 when the
  generated images spread over the cells as the reals do, 0 when they all fall into one. A generator
  collapsed onto one digit scores about 0 to 0.4, one that keeps every digit 0.8 to 0.95.
- `mode_imbalance`: the total variation distance between the two histograms, half the sum of the absolute
  differences of the shares: the share of generated images that would have to move to another cell for
  the histograms to match. It sees partial collapse, which entropy hides: a generator that makes 40%
  eights and 17% nines keeps a diversity of 0.85, yet puts about a third of its images in the wrong cells.
- `mode_excess`: the largest ratio of a cell's generated share to its real share (the most over-weighted mode).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

FEATURE_SIDE = 16
COMPONENTS = 32
BINS = 20


def pooled_pixels(images: torch.Tensor, side: int = FEATURE_SIDE) -> torch.Tensor:
    """Images (N, C, H, W) reduced to side x side by area averages and flattened, on their device: the
    probe's first step, and the `pixels` extractor (metrics/features.py)."""
    return F.adaptive_avg_pool2d(images.detach().float(), side).flatten(1)


def _entropy(share: np.ndarray) -> float:
    share = share[share > 0]
    return float(-(share * np.log(share)).sum())


class DiversityProbe:
    """Fitted once on real images (N, C, H, W) in [-1, 1]; then scores batches of generated images."""

    def __init__(self, reals: torch.Tensor, bins: int = BINS, seed: int = 0):
        from sklearn.cluster import KMeans
        from threadpoolctl import threadpool_limits

        if len(reals) < 2 * bins:
            raise ValueError(f"the diversity probe needs at least {2 * bins} real images, got {len(reals)}")
        flat = pooled_pixels(reals.cpu()).double()
        self.mean = flat.mean(0)
        _, s, vh = torch.linalg.svd(flat - self.mean, full_matrices=False)
        keep = min(COMPONENTS, vh.shape[0])
        self.basis = vh[:keep].T / (s[:keep] / (len(flat) - 1) ** 0.5).clamp_min(1e-8)
        with threadpool_limits(1):  # OpenMP threads left spinning by k-means would slow torch down
            self.kmeans = KMeans(bins, n_init=10, random_state=seed).fit(self._project(flat))
        self.real_share = np.bincount(self.kmeans.labels_, minlength=bins) / len(reals)
        self.n_real = len(reals)

    def _project(self, flat: torch.Tensor) -> np.ndarray:
        return ((flat - self.mean) @ self.basis).numpy()

    def features(self, images: torch.Tensor) -> np.ndarray:
        return self._project(pooled_pixels(images.cpu()).double())

    def __call__(self, images: torch.Tensor) -> dict[str, float]:
        from threadpoolctl import threadpool_limits

        with threadpool_limits(1):
            cells = self.kmeans.predict(self.features(images))
        share = np.bincount(cells, minlength=len(self.real_share)) / len(cells)
        n1, n2 = self.n_real, len(cells)
        pooled = (self.real_share * n1 + share * n2) / (n1 + n2)
        z = (share - self.real_share) / np.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2)).clip(1e-12)
        return {
            "ndb": float((np.abs(z) > 1.96).mean()),
            "diversity": _entropy(share) / _entropy(self.real_share),
            "mode_imbalance": float(np.abs(share - self.real_share).sum() / 2),
            "mode_excess": float((share / self.real_share.clip(1e-12)).max()),
        }
