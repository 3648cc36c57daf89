"""Does the generator copy its training images? FID does not tell (Stein et al. 2023): a generator that
reproduces its training set scores a fine FID. For each generated image, in the extractor's features:

- its nearest training image, and the distance d to it;
- that training image's own nearest neighbour among the other training images, at distance rho: how far
  apart real images of that region are;
- the ratio d / rho: about 1 or more for a new image of the data's kind, near 0 for a copy.

`near_copies` is the share of generated images with a ratio under NEAR_COPY; `median_ratio` the median,
and `closest` the generated images nearest to their training image (indices into both sets). The
generated side comes a batch at a time (`NearestTraining.add`), so that the images of the closest pairs
can be kept without holding every generated image.
"""

from __future__ import annotations

import torch

from .distribution import _by_rows, _radii

NEAR_COPY = 1 / 3  # a generated image three times nearer a training image than real images are to each other


class NearestTraining:
    """Features of the training images (N, D); `add` takes generated ones (a batch at a time), `result`
    gives the measures above. Where `add` is also given the images, the `shown` closest ones are kept
    (`closest_images`)."""

    def __init__(self, train: torch.Tensor, shown: int = 8):
        if len(train) < 2:
            raise ValueError("memorisation needs two or more training images")
        self.train, self.shown = train.double(), shown
        self.rho = _radii(self.train, 1).clamp(min=1e-12)
        self.ratios: list[torch.Tensor] = []
        self.nearest: list[torch.Tensor] = []
        self.kept: list[tuple[float, int, torch.Tensor]] = []  # (ratio, generated index, image)

    def add(self, features: torch.Tensor, images: torch.Tensor | None = None) -> None:
        found = _by_rows(features, self.train, lambda d: torch.stack([d.min(1).values, d.argmin(1).double()], 1))
        index = found[:, 1].long()
        ratio = found[:, 0] / self.rho[index]
        start = sum(len(r) for r in self.ratios)
        self.ratios.append(ratio)
        self.nearest.append(index)
        if images is not None:
            best = ratio.argsort()[: self.shown]
            self.kept += [(float(ratio[i]), start + int(i), images[i].detach().cpu()) for i in best]
            self.kept = sorted(self.kept, key=lambda k: (k[0], k[1]))[: self.shown]

    def result(self) -> dict:
        if not self.ratios:
            raise ValueError("memorisation needs one or more generated images")
        ratio, index = torch.cat(self.ratios), torch.cat(self.nearest)
        order = ratio.argsort(stable=True)[: self.shown]
        return {
            "near_copies": float((ratio < NEAR_COPY).double().mean()),
            "median_ratio": float(ratio.median()),
            "closest": [
                {"generated": int(i), "training": int(index[i]), "ratio": round(float(ratio[i]), 4)} for i in order
            ],
        }

    def closest_images(self) -> torch.Tensor | None:
        """The kept generated images (k, C, H, W), closest first, or None when none were kept."""
        return torch.stack([image for _, _, image in self.kept]) if self.kept else None
