"""Tests for ganforge.metrics.upscale: BT.601 luma by hand, PSNR by hand, PSNR and SSIM against
scikit-image, the 8-bit rounding and the border crop."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from skimage import data
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from ganforge.metrics.upscale import PSNR_MAX_DB, luma, quantise, scores


def _from_levels(levels: torch.Tensor | np.ndarray) -> torch.Tensor:
    """8-bit levels (N, C, H, W) -> the toolkit's [-1, 1] floats."""
    return torch.as_tensor(levels, dtype=torch.float32) / 127.5 - 1.0


def _astronaut_pair(size: int = 96, scale: int = 2) -> tuple[torch.Tensor, torch.Tensor]:
    """A real photo crop (1, 3, size, size) in [-1, 1] and a bicubic x`scale` round trip of it (a poor SR)."""
    target = _from_levels(data.astronaut()[80 : 80 + size, 160 : 160 + size].transpose(2, 0, 1)[None].copy())
    small = F.interpolate(target, scale_factor=1 / scale, mode="bicubic", antialias=True, align_corners=False)
    out = F.interpolate(small, scale_factor=scale, mode="bicubic", align_corners=False).clamp(-1, 1)
    return out, target


def _numpy_y(rgb01: np.ndarray) -> np.ndarray:
    """(H, W, 3) on [0, 1] -> MATLAB rgb2ycbcr's Y on [0, 1], in float64."""
    return (16 + rgb01 @ np.array([65.481, 128.553, 24.966])) / 255


def _ssim(a: np.ndarray, b: np.ndarray, rgb: bool) -> float:
    return structural_similarity(a, b, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=1,
                                 channel_axis=2 if rgb else None)  # fmt: skip


# -------------------------------------------------------------------------------------------- luma


@pytest.mark.parametrize(
    "rgb, expected",
    [
        ((255, 255, 255), 235),
        ((0, 0, 0), 16),
        ((255, 0, 0), 16 + 65.481),
        ((0, 255, 0), 16 + 128.553),
        ((0, 0, 255), 16 + 24.966),
        ((100, 150, 200), 16 + (65.481 * 100 + 128.553 * 150 + 24.966 * 200) / 255),
    ],
)
def test_luma_by_hand(rgb, expected):
    x = _from_levels(torch.tensor(rgb, dtype=torch.float32).view(1, 3, 1, 1).expand(2, 3, 4, 5))
    y = luma(x)
    assert y.shape == (2, 1, 4, 5)
    assert torch.allclose(y, torch.full_like(y, expected / 255), atol=1e-6)


def test_luma_of_one_channel_is_the_channel_on_0_1():
    x = torch.linspace(-1, 1, 30).view(1, 1, 5, 6)
    assert torch.allclose(luma(x), (x + 1) / 2)


def test_quantise_rounds_to_8_bit_levels_as_saved_files():
    x = torch.tensor([-1.5, -1.0, -0.999, 0.0, 0.5, 1.0, 2.0]).view(1, 1, 1, 7)
    levels = torch.tensor([0, 0, 0, 128, 191, 255, 255], dtype=torch.float32)  # 127.5 and 191.25 round as to_pil
    assert torch.equal(quantise(x) * 255, levels.view(1, 1, 1, 7))


# -------------------------------------------------------------------------------------------- PSNR


def test_psnr_of_a_known_error_by_hand():
    target = torch.full((1, 3, 20, 20), 100.0)
    out = target.clone()
    out[:, :, :5, :] += 10  # a quarter of the pixels 10 levels brighter in every channel
    result = scores(_from_levels(out), _from_levels(target), border=0)
    mse_y = 0.25 * (10 * (65.481 + 128.553 + 24.966) / 255 / 255) ** 2  # Y moves by 219/255 of the RGB step
    mse = 0.25 * (10 / 255) ** 2
    assert result["psnr_y"] == pytest.approx(10 * math.log10(1 / mse_y), abs=1e-3)
    assert result["psnr"] == pytest.approx(10 * math.log10(1 / mse), abs=1e-3)


@pytest.mark.parametrize("border", [0, 2, 4])
def test_scores_agree_with_scikit_image(border):
    out, target = _astronaut_pair(scale=2)
    result = scores(out, target, border=border)
    crop = slice(border, 96 - border)
    a = quantise(out)[0].permute(1, 2, 0).double().numpy()[crop, crop]
    b = quantise(target)[0].permute(1, 2, 0).double().numpy()[crop, crop]
    # skimage filters with reflected edges and then drops (11 - 1) / 2 pixels on each side: the 'valid' region
    assert result["psnr"] == pytest.approx(peak_signal_noise_ratio(b, a, data_range=1), abs=1e-3)
    assert result["ssim"] == pytest.approx(_ssim(a, b, rgb=True), abs=1e-5)
    assert result["psnr_y"] == pytest.approx(peak_signal_noise_ratio(_numpy_y(b), _numpy_y(a), data_range=1), abs=1e-3)
    assert result["ssim_y"] == pytest.approx(_ssim(_numpy_y(a), _numpy_y(b), rgb=False), abs=1e-5)
    assert 20 < result["psnr_y"] < 40 and 0.5 < result["ssim_y"] < 0.99  # a blurry but recognisable image


def test_batch_scores_are_the_means_of_the_images():
    out, target = _astronaut_pair(scale=2)
    out4, target4 = _astronaut_pair(scale=4)
    both = scores(torch.cat([out, out4]), torch.cat([target, target4]), border=2)
    one, two = scores(out, target, border=2), scores(out4, target4, border=2)
    for key in ("psnr_y", "ssim_y", "psnr", "ssim"):
        assert both[key] == pytest.approx((one[key] + two[key]) / 2, abs=1e-5)
    assert one["psnr_y"] > two["psnr_y"]  # x4 loses more than x2


def test_one_channel_images_score_the_same_on_y_and_on_the_channels():
    out, target = (luma(x) * 2 - 1 for x in _astronaut_pair())
    result = scores(out, target, border=2)
    assert result["psnr_y"] == pytest.approx(result["psnr"]) and result["ssim_y"] == pytest.approx(result["ssim"])


# ---------------------------------------------------------------------------- identical, 8 bits, border


def test_identical_images_cap_psnr_and_give_ssim_1():
    _, target = _astronaut_pair()
    result = scores(target, target.clone(), border=2)
    assert result["psnr_y"] == result["psnr"] == PSNR_MAX_DB  # capped at 100 dB, never inf
    assert result["ssim_y"] == pytest.approx(1.0, abs=1e-6) and result["ssim"] == pytest.approx(1.0, abs=1e-6)


def test_differences_below_half_an_8_bit_level_do_not_count():
    _, target = _astronaut_pair()
    noise = (torch.rand(target.shape, generator=torch.Generator().manual_seed(0)) - 0.5) * 0.8 / 127.5
    assert scores(target + noise, target, border=0)["psnr"] == PSNR_MAX_DB
    assert scores(target + 1.2 / 127.5 * noise.sign(), target, border=0)["psnr"] < 60


@pytest.mark.parametrize("border", [2, 3])
def test_the_border_is_cropped(border):
    out, target = _astronaut_pair()
    noise = torch.rand(target.shape, generator=torch.Generator().manual_seed(1)) * 2 - 1
    ring = torch.ones_like(target, dtype=torch.bool)
    ring[:, :, border:-border, border:-border] = False
    spoilt = torch.where(ring, noise, out)  # garbage confined to the border
    assert scores(spoilt, target, border) == scores(out, target, border)
    assert scores(torch.where(ring, noise, target), target, border)["psnr_y"] == PSNR_MAX_DB
    inside = torch.zeros_like(ring)
    inside[:, :, border, border:-border] = True  # the first row inside the border
    assert scores(torch.where(inside, noise, out), target, border)["psnr"] < scores(out, target, border)["psnr"]


# ------------------------------------------------------------------------------------------- checks


def test_bad_inputs_are_refused():
    out, target = _astronaut_pair(size=32)
    with pytest.raises(ValueError, match="differ"):
        scores(out, target[:, :, :30], border=0)
    with pytest.raises(ValueError, match="SSIM window"):
        scores(out, target, border=11)
    with pytest.raises(ValueError, match="border"):
        scores(out, target, border=-1)
    with pytest.raises(ValueError, match="C = 1 or 3"):
        scores(out[:, :2], target[:, :2], border=0)
    with pytest.raises(ValueError, match="C = 1 or 3"):
        luma(out[0])
