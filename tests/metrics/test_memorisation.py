"""Memorisation (issue 23, metrics/memorisation.py): each generated image's distance to its nearest
training image over that image's distance to its own nearest neighbour, computed here by brute force."""

import pytest
import torch

from ganforge.config import load_config
from ganforge.detector import Detector
from ganforge.metrics.memorisation import NEAR_COPY, memorisation


def brute_force_ratios(train, generated):
    ratios = []
    for g in generated:
        d = ((train - g) ** 2).sum(1).sqrt()
        j = int(d.argmin())
        others = torch.cat([train[:j], train[j + 1 :]])
        rho = ((others - train[j]) ** 2).sum(1).sqrt().min()
        ratios.append(float(d[j] / rho))
    return torch.tensor(ratios)


def test_the_ratios_are_the_brute_force_ones_and_copies_are_counted():
    gen = torch.Generator().manual_seed(0)
    train = torch.randn(60, 8, generator=gen)
    copies = train[:10] + 0.01 * torch.randn(10, 8, generator=gen)
    new = torch.randn(30, 8, generator=gen)
    generated = torch.cat([copies, new])
    result = memorisation(train, generated)
    ratios = brute_force_ratios(train.double(), generated.double())
    assert result["median_ratio"] == pytest.approx(float(ratios.median()), rel=1e-6)
    assert result["near_copies"] == pytest.approx(float((ratios < NEAR_COPY).double().mean()))
    assert result["near_copies"] == pytest.approx(10 / 40)  # the copies, and none of the new points
    assert {c["generated"] for c in result["closest"]} <= set(range(10))
    assert memorisation(train, new)["near_copies"] == 0.0


def test_a_share_of_near_copies_above_the_threshold_is_a_memorising_event():
    cfg = load_config({"health": {"warmup": 0}})
    detector = Detector(cfg, chance=None, floor=0.0, recon=None)
    assert not detector.feed({"step": 10, "eval_near_copies": 0.05})
    events = detector.feed({"step": 20, "eval_near_copies": 0.6})
    assert [e.kind for e in events] == ["memorising"] and "60%" in events[0].message
