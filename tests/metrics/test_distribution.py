"""The distribution metrics against independent computations: scipy's matrix square root for the
Frechet distance, brute-force loops for the k-nearest-neighbour metrics, and their expected behaviour on
sets that are blurred, noised or missing modes."""

import numpy as np
import pytest
import scipy.linalg
import torch
import torch.nn.functional as F

from ganforge.data.builtin import digits_images
from ganforge.filters import gaussian_taps
from ganforge.metrics.distribution import density_coverage, fid, kid, precision_recall
from ganforge.metrics.features import extract, train_own


def frechet_scipy(a: np.ndarray, b: np.ndarray) -> float:
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    root = scipy.linalg.sqrtm(cov_a @ cov_b).real
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(cov_a + cov_b - 2 * root))


def test_frechet_distance_agrees_with_scipy():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(600, 12))
    b = rng.normal(size=(500, 12)) @ rng.normal(size=(12, 12)) * 0.5 + 0.3
    assert fid(torch.from_numpy(a), torch.from_numpy(b)) == pytest.approx(frechet_scipy(a, b), rel=1e-6)


def knn_radius(points: np.ndarray, i: int, k: int) -> float:
    d = sorted(np.linalg.norm(points - points[i], axis=1))
    return d[k]  # d[0] is the point itself


def test_knn_metrics_agree_with_loops():
    rng = np.random.default_rng(1)
    real, fake = rng.normal(size=(40, 3)), rng.normal(size=(35, 3)) * 1.3 + 0.4
    r_rad = [knn_radius(real, i, 3) for i in range(len(real))]
    f_rad = [knn_radius(fake, j, 3) for j in range(len(fake))]
    dist = lambda p, q: np.linalg.norm(p - q)  # noqa: E731
    precision = np.mean([any(dist(f, r) <= r_rad[i] for i, r in enumerate(real)) for f in fake])
    recall = np.mean([any(dist(r, f) <= f_rad[j] for j, f in enumerate(fake)) for r in real])
    assert precision_recall(torch.from_numpy(real), torch.from_numpy(fake), k=3) == pytest.approx((precision, recall))
    r5 = [knn_radius(real, i, 5) for i in range(len(real))]
    density = sum(dist(f, r) <= r5[i] for f in fake for i, r in enumerate(real)) / (5 * len(fake))
    coverage = np.mean([any(dist(f, r) <= r5[i] for f in fake) for i, r in enumerate(real)])
    assert density_coverage(torch.from_numpy(real), torch.from_numpy(fake), k=5) == pytest.approx((density, coverage))


def test_distances_in_blocks_give_the_same_metrics(monkeypatch):
    """Large sets are measured a block of rows at a time; blocks of a few rows give the same numbers."""
    from ganforge.metrics import distribution

    gen = torch.Generator().manual_seed(3)
    real, fake = torch.randn(50, 4, generator=gen), torch.randn(45, 4, generator=gen) + 0.3
    whole = precision_recall(real, fake), density_coverage(real, fake)
    monkeypatch.setattr(distribution, "BLOCK_ELEMENTS", 7 * 50)
    assert (precision_recall(real, fake), density_coverage(real, fake)) == whole


def test_dropping_modes_lowers_recall_and_coverage_not_precision():
    """Ten well-separated clusters; the fakes hold only five of them."""
    rng = np.random.default_rng(2)
    centres = rng.normal(size=(10, 8)) * 10
    real = torch.from_numpy(np.concatenate([c + rng.normal(size=(100, 8)) for c in centres]))
    full = torch.from_numpy(np.concatenate([c + rng.normal(size=(100, 8)) for c in centres]))
    half = torch.from_numpy(np.concatenate([c + rng.normal(size=(200, 8)) for c in centres[:5]]))
    p_full, r_full = precision_recall(real, full)
    p_half, r_half = precision_recall(real, half)
    _, c_full = density_coverage(real, full)
    _, c_half = density_coverage(real, half)
    assert p_full > 0.75 and p_half > 0.75 and abs(p_full - p_half) < 0.1  # k = 3 in 8-D: about 0.85
    print(p_full, p_half, r_full, r_half, c_full, c_half)
    assert r_full > 0.75 and 0.3 < r_half < 0.55 and r_half < r_full / 1.6
    assert c_full > 0.75 and 0.3 < c_half < 0.55 and c_half < c_full / 1.6
    assert fid(real, half) > 10 * fid(real, full)


@pytest.fixture(scope="module")
def digits_features():
    x, _ = digits_images(28)
    return x[:800], train_own(x)


def blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    taps = gaussian_taps(sigma).float()
    kernel = (taps[:, None] * taps[None, :])[None, None]
    return F.conv2d(F.pad(x, [len(taps) // 2] * 4, mode="replicate"), kernel)


def test_fid_and_kid_are_zero_for_a_set_with_itself_and_grow_with_blur_and_noise(digits_features):
    images, net = digits_features
    real = extract(net, images)
    assert abs(fid(real, real)) < 1e-6
    for corrupt in (lambda s: blur(images, 0.5 + 1.5 * s), lambda s: images + 0.3 * s * torch.randn_like(images)):
        torch.manual_seed(0)
        scores = [(fid(real, f), kid(real, f)[0]) for f in (extract(net, corrupt(s).clamp(-1, 1)) for s in (1, 2, 3))]
        print(scores)
        fids, kids = zip(*scores, strict=True)
        assert 0 < fids[0] < fids[1] < fids[2]
        assert kids[0] < kids[1] < kids[2]
