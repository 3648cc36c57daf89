"""The shared Gaussian filter against SciPy's, and its edge handling against torch's padding."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy import ndimage

from ganforge.filters import edge_index, gaussian_blur, gaussian_taps


def test_edge_index_matches_torch_padding_and_extends_beyond_the_image():
    x = torch.arange(7.0).view(1, 1, 7)
    for radius in (1, 3, 6):
        for edges in ("reflect", "replicate"):
            ours = x.index_select(2, edge_index(7, radius, edges, x.device))
            assert torch.equal(ours, F.pad(x, (radius, radius), mode=edges)), (radius, edges)
    assert edge_index(3, 5, "reflect", torch.device("cpu")).tolist() == [1, 0, 1, 2, 1, 0, 1, 2, 1, 0, 1, 2, 1]
    assert edge_index(1, 2, "reflect", torch.device("cpu")).tolist() == [0, 0, 0, 0, 0]


@pytest.mark.parametrize("sigma", [1.0, 2.0])
@pytest.mark.parametrize("edges, scipy_mode", [("reflect", "mirror"), ("replicate", "nearest")])
def test_blur_equals_scipy_gaussian_filter(sigma, edges, scipy_mode):
    image = np.random.default_rng(0).random((2, 3, 20, 17))
    ours = gaussian_blur(torch.from_numpy(image), sigma, edges).numpy()
    theirs = ndimage.gaussian_filter(image, sigma=(0, 0, sigma, sigma), mode=scipy_mode, truncate=3.0)
    np.testing.assert_allclose(ours, theirs, atol=1e-12)


def test_taps_are_a_normalised_symmetric_gaussian():
    taps = gaussian_taps(1.5, radius=5, dtype=torch.float64)
    assert taps.numel() == 11 and taps.sum().item() == pytest.approx(1.0)
    assert torch.allclose(taps, taps.flip(0))
    assert taps[6] / taps[5] == pytest.approx(np.exp(-0.5 / 1.5**2))
