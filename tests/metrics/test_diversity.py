"""The diversity measure on real digits: its features tell the classes apart, a second sample of reals
scores as diverse as the reals, and dropping classes lowers it."""

import pytest
import torch

from ganforge.data.builtin import digits_images
from ganforge.metrics.diversity import DiversityProbe


@pytest.fixture(scope="module")
def digits():
    x, y = digits_images(28, 1)
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(0))
    return x[order], y[order]


@pytest.fixture(scope="module")
def probe(digits):
    return DiversityProbe(digits[0][:1000])


def test_the_feature_space_tells_the_digits_apart(digits, probe):
    x, y = digits
    reference, queries = torch.from_numpy(probe.features(x[:1000])), torch.from_numpy(probe.features(x[1000:]))
    nearest = torch.cdist(queries, reference).argmin(1)
    assert (y[:1000][nearest] == y[1000:]).float().mean() > 0.9


def test_held_out_reals_score_as_the_reals_and_dropped_classes_lower_it(digits, probe):
    x, y = digits
    held_out = probe(x[1000:1500])
    assert held_out["diversity"] > 0.95 and held_out["ndb"] <= 0.1
    rest_x, rest_y = x[1000:], y[1000:]
    five = probe(rest_x[rest_y < 5][:400])
    one = probe(rest_x[rest_y == 3][:150])
    blob = probe(rest_x[:1].expand(300, 1, 28, 28))
    print(held_out, five, one, blob)
    assert 1.0 >= held_out["diversity"] > five["diversity"] > one["diversity"] > blob["diversity"] == 0.0
    assert one["diversity"] < 0.5 < five["diversity"] and blob["ndb"] > 0.9


def test_mode_imbalance_sees_the_partial_collapse_that_diversity_hides(digits, probe):
    """40% eights and 17% nines (the issue's run with G's learning rate ten times D's) keep a high
    diversity; their imbalance is the total variation distance of the cell histograms, checked here
    against its definition computed from the probe's own cells."""
    x, y = digits
    rest_x, rest_y = x[1000:], y[1000:]
    by_class = {k: rest_x[rest_y == k] for k in range(10)}
    counts = {8: 160, 9: 68} | {k: 24 for k in range(8)}  # 400 images
    skewed = torch.cat([by_class[k][:n] if n <= len(by_class[k]) else by_class[k].repeat(3, 1, 1, 1)[:n]
                        for k, n in counts.items()])  # fmt: skip
    healthy, partial = probe(x[1000:1500]), probe(skewed)
    print("healthy", healthy, "partial", partial)
    cells = probe.kmeans.predict(probe.features(skewed))
    share = torch.bincount(torch.from_numpy(cells).long(), minlength=len(probe.real_share)).double() / len(skewed)
    expected = (share - torch.from_numpy(probe.real_share)).abs().sum() / 2
    assert partial["mode_imbalance"] == pytest.approx(float(expected), abs=1e-9)
    assert partial["diversity"] > 0.75  # what the mode_collapse event reads stays high
    assert healthy["mode_imbalance"] < 0.15 < 0.3 < partial["mode_imbalance"]
    assert healthy["mode_excess"] < 2 < partial["mode_excess"]


def test_too_few_reals_is_refused():
    with pytest.raises(ValueError, match="at least 40"):
        DiversityProbe(torch.zeros(10, 1, 8, 8))
