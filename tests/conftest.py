from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import ganforge


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """No test reads or writes the user's download cache."""
    monkeypatch.setenv("GANFORGE_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))


def tiny_overrides() -> list[str]:
    """A DCGAN small enough to train a few steps in a second on a CPU."""
    return [
        "model.width=8",
        "data.image_size=32",
        "train.batch_size=8",
        "train.log_every=2",
        "train.sample_every=4",
        "train.checkpoint_every=4",
        "train.grid_size=2",
    ]


class DigitClassifier:
    """A logistic regression trained on the real 8x8 UCI digits (about 96% accurate on held-out digits):
    our measure of whether generated 28x28 images are recognisable digits, of which digits, and how far
    they lie from real ones."""

    def __init__(self):
        from sklearn.datasets import load_digits
        from sklearn.linear_model import LogisticRegression

        from ganforge.data.builtin import digits_images

        d = load_digits()
        self.model = LogisticRegression(max_iter=3000).fit(d.data[:1500], d.target[:1500])
        self.holdout = (d.data[1500:], d.target[1500:])
        self.real = self.to_features(digits_images(28, 1)[0][:1500])

    @staticmethod
    def to_features(images: torch.Tensor) -> np.ndarray:
        """Images (N, 1, H, W) in [-1, 1] -> 8x8 in the digits' 0..16 scale, flattened."""
        small = F.adaptive_avg_pool2d(images.float(), 8)
        return ((small + 1) * 8).clamp(0, 16).flatten(1).numpy()

    def predict_proba(self, images: torch.Tensor) -> np.ndarray:
        return self.model.predict_proba(self.to_features(images))

    def quality(self, images: torch.Tensor) -> dict:
        """counts: samples read as each digit with confidence > 0.9; coverage: digits with 10 or more of
        them; entropy: of that histogram, 1 for ten equal digits, 0 for one; distance: the median distance
        of a sample to its nearest real digit (8x8 features; held-out real digits: about 11)."""
        p = self.predict_proba(images)
        counts = np.bincount(p.argmax(1)[p.max(1) > 0.9], minlength=10)
        share = counts / max(counts.sum(), 1)
        entropy = float(-(share[share > 0] * np.log(share[share > 0])).sum() / np.log(10))
        feats = self.to_features(images)
        nearest = np.sqrt(((feats[:, None, :] - self.real[None]) ** 2).sum(-1)).min(1)
        return {
            "counts": counts.tolist(),
            "coverage": int((counts >= 10).sum()),
            "confident": int(counts.sum()),
            "entropy": round(entropy, 3),
            "distance": round(float(np.median(nearest)), 2),
        }


@pytest.fixture(scope="session")
def digit_classifier() -> DigitClassifier:
    return DigitClassifier()


@pytest.fixture(scope="session")
def digits_run(tmp_path_factory) -> Path:
    """The README's headline run, trained once for the whole session (about 3-4 minutes on 2 cores):
    ganforge train dcgan-mnist --data digits --steps 1500."""
    out = tmp_path_factory.mktemp("runs") / "digits"
    ganforge.train("dcgan-mnist", data="digits", steps=1500, out=out, quiet=True)
    return out
