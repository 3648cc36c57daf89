"""Real-ESRGAN's two-stage degradation: each stage measured alone, then the whole pipeline's contract."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from skimage import data as skdata

from ganforge.data import realworld
from ganforge.data.jpeg import jpeg as jpeg_at
from ganforge.data.lowres import bicubic_down
from ganforge.data.realworld import (
    RealWorldSettings,
    blur,
    degrade_realworld,
    gaussian_noise,
    jpeg,
    poisson_noise,
    random_kernels,
    random_resize,
)
from ganforge.filters import gaussian_blur, gaussian_taps
from tests.data.test_jpeg import pillow_jpeg, psnr

OFF = RealWorldSettings(blur=0, resize=False, noise=0, jpeg=100, second=0)


@pytest.fixture(autouse=True)
def _seeded():
    torch.manual_seed(0)


@pytest.fixture(scope="module")
def photos() -> torch.Tensor:
    """Four 64 x 64 crops of the scikit-image astronaut (every other pixel), (4, 3, 64, 64) in [-1, 1]."""
    image = torch.from_numpy(skdata.astronaut()[::2, ::2].copy()).permute(2, 0, 1).float() / 127.5 - 1
    return torch.stack(
        [image[:, 32:96, 32:96], image[:, 40:104, 120:184], image[:, 150:214, 60:124], image[:, -64:, -64:]]
    )


def high_frequency_energy(x: torch.Tensor) -> torch.Tensor:
    """Mean squared Laplacian of each image, (N,)."""
    laplacian = torch.tensor([[0.0, 1, 0], [1, -4, 1], [0, 1, 0]], dtype=x.dtype).view(1, 1, 3, 3)
    return F.conv2d(x.flatten(0, 1)[:, None], laplacian).pow(2).view(x.shape[0], -1).mean(1)


def kernel_covariances(kernels: torch.Tensor) -> torch.Tensor:
    """The second moments of each kernel (N, K, K) about its centre, (N, 2, 2)."""
    offsets = torch.arange(kernels.shape[-1], dtype=torch.float64) - kernels.shape[-1] // 2
    y, x = offsets.view(-1, 1), offsets.view(1, -1)
    k = kernels.double()
    xx, xy, yy = (k * x * x).sum((1, 2)), (k * x * y).sum((1, 2)), (k * y * y).sum((1, 2))
    return torch.stack([torch.stack([xx, xy], -1), torch.stack([xy, yy], -1)], -2)


# ---- the stages alone ----------------------------------------------------------------------------------------


def test_kernels_sum_to_one_and_have_odd_sizes_7_to_21():
    kernels = random_kernels(200, 3.0)
    assert kernels.shape == (200, 21, 21)
    assert (kernels >= 0).all()
    assert torch.allclose(kernels.sum((1, 2)), torch.ones(200), atol=1e-5)
    assert torch.equal(kernels, kernels.flip(1, 2))  # centred: they do not shift the image
    offsets = (torch.arange(21) - 10).abs()
    reach = torch.maximum(offsets.view(-1, 1), offsets.view(1, -1))
    radii = torch.stack([reach[k > 0].max() for k in kernels])  # half the size that is in use
    assert radii.min() >= 2 and radii.max() <= 10
    assert len(radii[kernels.amax((1, 2)) < 0.05].unique()) >= 4  # wide kernels are cut at several sizes


def test_kernels_are_isotropic_or_anisotropic_at_random_angles_within_max_sigma():
    variances, axes = torch.linalg.eigh(kernel_covariances(random_kernels(400, 2.0)))
    assert variances.max() <= 2.0**2 * 1.001  # a sigma never above max_sigma (cutting only lowers it)
    ratio = variances[:, 0] / variances[:, 1]
    isotropic = ratio > 0.999
    assert 0.4 < isotropic.float().mean() < 0.65  # half isotropic, a few anisotropic ones nearly so
    elongated = ratio < 0.5
    assert elongated.sum() > 50
    angles = torch.atan2(axes[elongated, 1, 1], axes[elongated, 0, 1]).remainder(math.pi)  # the long axis
    assert torch.histc(angles, bins=4, min=0, max=math.pi).min() > 5  # every direction


def test_blur_lowers_high_frequencies_and_keeps_the_mean():
    x = torch.rand(8, 3, 64, 64) * 2 - 1
    out = blur(x, random_kernels(8, 3.0))
    ratio = high_frequency_energy(x) / high_frequency_energy(out)
    assert (ratio > 0.99).all()  # never sharper
    assert ratio.median() > 10  # measured over seeds 0..4: medians 190..3000
    assert torch.allclose(out.mean((1, 2, 3)), x.mean((1, 2, 3)), atol=3e-3)


def test_blur_applies_each_image_its_own_kernel():
    x = torch.rand(3, 2, 40, 30) * 2 - 1
    delta = torch.zeros(21, 21)
    delta[10, 10] = 1
    taps = gaussian_taps(1.5)  # radius 5, as gaussian_blur takes it
    kernels = torch.stack([delta, F.pad(taps[:, None] * taps[None, :], (5, 5, 5, 5)), delta])
    out = blur(x, kernels)
    assert torch.allclose(out[[0, 2]], x[[0, 2]], atol=1e-6)
    assert torch.allclose(out[1], gaussian_blur(x[1:2], 1.5)[0], atol=1e-5)  # the same reflected edges


def test_blur_works_on_images_smaller_than_the_kernel():
    x = torch.rand(2, 1, 5, 3) * 2 - 1
    out = blur(x, random_kernels(2, 3.0))
    assert out.shape == x.shape and torch.isfinite(out).all()


def test_gaussian_noise_has_its_std():
    sigmas = torch.tensor([2.0, 5.0, 10.0, 20.0])
    out = gaussian_noise(torch.zeros(4, 3, 64, 64), sigmas)  # mid grey, far from the clamp
    assert torch.allclose(out.std((1, 2, 3)) * 127.5, sigmas, rtol=0.03)
    assert torch.allclose(
        gaussian_noise(torch.zeros(4, 1, 64, 64), 8.0).std((1, 2, 3)) * 127.5, torch.tensor(8.0), rtol=0.05
    )


def test_grey_noise_is_the_same_in_every_channel():
    grey = gaussian_noise(torch.zeros(4, 3, 32, 32), 10.0, gray_prob=1.0)
    assert torch.equal(grey[:, 0], grey[:, 1]) and torch.equal(grey[:, 1], grey[:, 2])
    colour = gaussian_noise(torch.zeros(4, 3, 32, 32), 10.0, gray_prob=0.0)
    assert (colour[:, 0] != colour[:, 1]).float().mean() > 0.9
    shot = poisson_noise(torch.zeros(4, 3, 32, 32), 1.0, gray_prob=1.0)
    assert torch.equal(shot[:, 0], shot[:, 2])


@pytest.mark.parametrize(("value", "scale"), [(-0.5, 1.0), (0.0, 1.0), (0.5, 1.0), (-0.5, 2.0)])
def test_poisson_noise_variance_grows_with_intensity(value, scale):
    """8-bit values as photon counts: the variance is the level (in levels squared) times scale squared."""
    out = poisson_noise(torch.full((4, 3, 64, 64), value), scale)
    variance = ((out - value) * 127.5).var()
    level = (value + 1) * 127.5
    assert variance.item() == pytest.approx(level * scale**2, rel=0.05)


def test_random_resize_factors_and_sizes():
    x = torch.rand(2, 3, 40, 60) * 2 - 1
    for _ in range(10):
        down = random_resize(x, 0.3, 1.2, (0, 1, 0)).shape[-2:]
        assert 12 <= down[0] <= 40 and down[1] == pytest.approx(down[0] * 1.5, abs=1)
        up = random_resize(x, 0.3, 1.2, (1, 0, 0)).shape[-2:]
        assert 40 <= up[0] <= 48 and up[1] == pytest.approx(up[0] * 1.5, abs=1)
    assert torch.equal(random_resize(x, 0.3, 1.2, (0, 0, 1)), x)


@pytest.mark.parametrize("qualities", [[10, 30, 50, 90], [40, 40, 40, 40]])
def test_jpeg_gives_each_image_its_quality_as_pillow_would(photos, qualities):
    out = jpeg(photos, qualities)
    pillows = torch.cat([pillow_jpeg(image[None], quality) for image, quality in zip(photos, qualities, strict=True)])
    for image, encoded, quality in zip(photos, out, qualities, strict=True):
        assert torch.equal(encoded, jpeg_at(image[None], quality)[0])
    # tests/data/test_jpeg.py's bound for a colour photograph, here over the four crops together (41..43 dB
    # measured; one crop alone, 38..40 dB)
    assert psnr(out, pillows) > 40


# ---- the whole degradation -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("channels", "scale"), [(3, 4), (1, 2), (3, 1)])
def test_size_range_and_8_bit_levels(photos, channels, scale):
    hr = photos if channels == 3 else photos.mean(1, keepdim=True)
    lr = degrade_realworld(hr, scale)
    assert lr.shape == (4, channels, 64 // scale, 64 // scale) and lr.dtype == torch.float32
    assert lr.min() >= -1 and lr.max() <= 1
    assert torch.equal(lr, torch.round((lr + 1) * 127.5) / 127.5 - 1)


def test_deterministic_under_manual_seed(photos):
    torch.manual_seed(7)
    first = degrade_realworld(photos, 4)
    torch.manual_seed(7)
    assert torch.equal(degrade_realworld(photos, 4), first)
    assert not torch.equal(degrade_realworld(photos, 4), first)  # the stream has moved on


def test_each_image_of_a_batch_gets_its_own_draw(photos):
    lr = degrade_realworld(photos[:1].expand(6, -1, -1, -1), 4)
    distances = torch.cdist(lr.flatten(1), lr.flatten(1))
    assert (distances + torch.eye(6) > 0.5).all()  # all six differ, clearly


def test_with_every_step_off_it_is_bicubic_downscaling(photos):
    expected = bicubic_down(photos, 4)
    out = degrade_realworld(photos, 4, OFF)
    assert torch.equal(out, torch.round((expected + 1) * 127.5) / 127.5 - 1)
    assert (out - expected).abs().max() <= 0.5 / 127.5 + 1e-6  # only the rounding to 8-bit levels


def test_no_noise_adds_no_variance():
    flat = torch.full((4, 3, 64, 64), 0.2)  # blur, resize and JPEG keep a flat image flat
    assert degrade_realworld(flat, 4, RealWorldSettings(noise=0)).std((2, 3)).max() == 0
    assert degrade_realworld(flat, 4).std((2, 3)).mean() > 2 / 127.5  # with noise (JPEG may flatten some)


@pytest.mark.parametrize(
    ("settings", "skipped"),
    [
        (RealWorldSettings(blur=0), {"blur"}),
        (RealWorldSettings(resize=False), {"random_resize", "resize"}),
        (RealWorldSettings(noise=0), {"gaussian_noise", "poisson_noise"}),
        (RealWorldSettings(poisson=0), {"poisson_noise"}),
        (RealWorldSettings(poisson=1), {"gaussian_noise"}),
        (RealWorldSettings(jpeg=100), {"jpeg"}),
        (OFF, {"blur", "random_resize", "resize", "gaussian_noise", "poisson_noise", "jpeg"}),
    ],
)
def test_a_step_switched_off_is_skipped(monkeypatch, photos, settings, skipped):
    calls: dict[str, int] = {}

    def spy(name: str, real):
        def counted(*args, **kwargs):
            calls[name] = calls.get(name, 0) + 1
            return real(*args, **kwargs)

        return counted

    for name in ("blur", "random_resize", "resize", "gaussian_noise", "poisson_noise", "jpeg", "_stage"):
        monkeypatch.setattr(realworld, name, spy(name, getattr(realworld, name)))
    for _ in range(3):
        degrade_realworld(photos, 2, settings)
    assert calls["_stage"] == (6 if settings.second == 1 else 3)
    assert skipped.isdisjoint(calls)
    assert {"blur", "random_resize", "gaussian_noise", "poisson_noise", "jpeg"} - skipped <= set(calls)


def test_the_second_stage_runs_with_its_chance(monkeypatch, photos):
    stages = []
    real = realworld._stage
    monkeypatch.setattr(realworld, "_stage", lambda x, s, first: stages.append(first) or real(x, s, first))
    for _ in range(40):
        degrade_realworld(photos[:1], 4, RealWorldSettings(second=0.5))
    seconds = stages.count(False)
    assert stages.count(True) == 40 and 8 <= seconds <= 32
    stages.clear()
    degrade_realworld(photos[:1], 4, RealWorldSettings(second=0))
    assert stages == [True]


def test_bad_input_raises():
    with pytest.raises(ValueError, match="multiple of the scale"):
        degrade_realworld(torch.zeros(1, 3, 30, 32), 4)
    with pytest.raises(ValueError, match="1 or 3"):
        degrade_realworld(torch.zeros(1, 2, 32, 32), 4)
    with pytest.raises(ValueError, match="jpeg"):
        RealWorldSettings(jpeg=0)
    with pytest.raises(ValueError, match="chances"):
        RealWorldSettings(second=1.5)
