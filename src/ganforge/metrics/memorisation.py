"""Does the generator copy its training images? FID does not tell (Stein et al. 2023): a generator that
reproduces its training set scores a fine FID. For each generated image, in the extractor's features:

- its nearest training image, and the distance d to it;
- that training image's own nearest neighbour among the other training images, at distance rho: how far
  apart real images of that region are;
- the ratio d / rho: about 1 or more for a new image of the data's kind, near 0 for a copy.

`near_copies` is the share of generated images with a ratio under NEAR_COPY; `median_ratio` the median,
and `closest` the generated images nearest to their training image (indices into both sets).
"""

from __future__ import annotations

import torch

from .distribution import _by_rows, _radii

NEAR_COPY = 1 / 3  # a generated image three times nearer a training image than real images are to each other


def memorisation(train: torch.Tensor, generated: torch.Tensor, shown: int = 8) -> dict:
    """The measures above for features of the training images (N, D) and generated ones (M, D)."""
    if len(train) < 2 or not len(generated):
        raise ValueError("memorisation needs two or more training images and one or more generated ones")
    rho = _radii(train, 1).clamp(min=1e-12)
    nearest = _by_rows(generated, train, lambda d: torch.stack([d.min(1).values, d.argmin(1).double()], 1))  # (M, 2)
    distance, index = nearest[:, 0], nearest[:, 1].long()
    ratio = distance / rho[index]
    order = ratio.argsort()[:shown]
    return {
        "near_copies": float((ratio < NEAR_COPY).double().mean()),
        "median_ratio": float(ratio.median()),
        "closest": [
            {"generated": int(i), "training": int(index[i]), "ratio": round(float(ratio[i]), 4)} for i in order
        ],
    }
