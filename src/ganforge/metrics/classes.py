"""The classifier view of generated images, for data sets with class labels (digits, MNIST, Fashion-MNIST).

A logistic regression (scikit-learn) is fitted to the run's labelled real images, pooled to 8x8, and reads
the generated ones: which classes appear, how evenly, and how sure the classifier is. A generator that
covers every class in proportion and makes images the classifier reads with confidence has learnt the
data's classes; a collapsed one shows one or two classes.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

MAX_FIT = 5000  # labelled images the classifier is fitted on (a fifth more are held out to score it)


def _pooled(images: torch.Tensor) -> np.ndarray:
    return F.adaptive_avg_pool2d(images.float().mean(1, keepdim=True), 8).flatten(1).numpy()


class ClassifierView:
    """Fitted on labelled reals; `__call__(fakes)` gives the class histogram, the classes covered (those
    with at least a quarter of an even share), the mean confidence, and the classifier's own accuracy
    on held-out reals (how far to trust the view)."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, seed: int = 0):
        from sklearn.linear_model import LogisticRegression
        from sklearn.preprocessing import StandardScaler

        order = torch.randperm(len(images), generator=torch.Generator().manual_seed(seed))
        fit, held = order[: min(MAX_FIT, len(order) * 4 // 5)], order[len(order) * 4 // 5 :][: MAX_FIT // 4]
        self.classes = int(labels.max()) + 1
        self.scaler = StandardScaler().fit(_pooled(images[fit]))
        self.model = LogisticRegression(max_iter=2000).fit(self.scaler.transform(_pooled(images[fit])), labels[fit])
        self.real_accuracy = float((self.proba(images[held]).argmax(1) == labels[held].numpy()).mean())

    def proba(self, images: torch.Tensor) -> np.ndarray:
        """The classifier's probabilities (N, classes) for images (N, C, H, W) in [-1, 1]."""
        p = self.model.predict_proba(self.scaler.transform(_pooled(images)))
        full = np.zeros((len(p), self.classes))
        full[:, self.model.classes_] = p
        return full

    def __call__(self, fakes: torch.Tensor) -> dict:
        return self.summary(self.proba(fakes))

    def summary(self, p: np.ndarray) -> dict:
        """The view of generated images from their probabilities (`proba`, of one batch or several)."""
        histogram = np.bincount(p.argmax(1), minlength=self.classes)
        share = histogram / max(len(p), 1)
        return {
            "histogram": histogram.tolist(),
            "coverage": int((share >= 0.25 / self.classes).sum()),
            "classes": self.classes,
            "mean_confidence": round(float(p.max(1).mean()), 4),
            "classifier_accuracy_on_reals": round(self.real_accuracy, 4),
        }
