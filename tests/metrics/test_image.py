"""Tests for ganforge.metrics.image: agreement with scikit-image, GMSD behaviour, mixed precision."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.signal import convolve2d
from skimage import data, filters
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from ganforge.metrics.image import (
    PSNR_MAX_DB,
    gmsd,
    gmsd_loss,
    psnr,
    ssim,
    ssim_loss,
    total_variation,
    tv_loss,
)

# --------------------------------------------------------------------------------------- helpers


def _grey(a: np.ndarray) -> torch.Tensor:
    """(H, W) numpy -> (1, 1, H, W) float32 tensor."""
    return torch.from_numpy(np.ascontiguousarray(a)).float()[None, None]


def _rgb(a: np.ndarray) -> torch.Tensor:
    """(H, W, 3) numpy -> (1, 3, H, W) float32 tensor."""
    return torch.from_numpy(np.ascontiguousarray(a)).float().permute(2, 0, 1)[None]


def _camera(size: int = 256) -> np.ndarray:
    """skimage's camera man in [-1, 1], float64, centre crop of ``size``."""
    img = data.camera().astype(np.float64) / 127.5 - 1.0
    top = (img.shape[0] - size) // 2
    return img[top : top + size, top : top + size]


def _astronaut(size: int = 128) -> np.ndarray:
    """skimage's astronaut in [0, 1], float64, (size, size, 3) crop."""
    img = data.astronaut().astype(np.float64) / 255.0
    return img[100 : 100 + size, 150 : 150 + size]


def _skimage_ssim(a: np.ndarray, b: np.ndarray, data_range: float, rgb: bool = False) -> float:
    return structural_similarity(
        a,
        b,
        gaussian_weights=True,
        sigma=1.5,
        use_sample_covariance=False,
        data_range=data_range,
        channel_axis=2 if rgb else None,
    )


def _matlab_conv2_same(a: np.ndarray, k: np.ndarray) -> np.ndarray:
    """MATLAB conv2(a, k, 'same'): the central part of the full convolution, zero padded."""
    full = convolve2d(a, k, mode="full")
    r, c = k.shape[0] // 2, k.shape[1] // 2
    return full[r : r + a.shape[0], c : c + a.shape[1]]


def _reference_gmsd(ref: np.ndarray, dist: np.ndarray) -> float:
    """Numpy transcription of the steps of the authors' MATLAB GMSD, for grey images in [0, 255]."""
    t = 170.0
    average = np.full((2, 2), 0.25)
    ref = _matlab_conv2_same(ref, average)[::2, ::2]
    dist = _matlab_conv2_same(dist, average)[::2, ::2]
    dx = np.array([[1.0, 0.0, -1.0]] * 3) / 3.0
    dy = dx.T

    def magnitude(img: np.ndarray) -> np.ndarray:
        return np.sqrt(_matlab_conv2_same(img, dx) ** 2 + _matlab_conv2_same(img, dy) ** 2)

    m1, m2 = magnitude(ref), magnitude(dist)
    quality_map = (2 * m1 * m2 + t) / (m1**2 + m2**2 + t)
    return float(np.std(quality_map, ddof=1))  # std2


# -------------------------------------------------------------------------------------------- SSIM


@pytest.mark.parametrize("seed", [0, 1])
def test_ssim_matches_skimage_on_random_grey(seed: int) -> None:
    rng = np.random.default_rng(seed)
    a = rng.uniform(-1, 1, (40, 52))
    b = np.clip(a + rng.normal(0, 0.3, a.shape), -1, 1)
    ours = ssim(_grey(a), _grey(b)).item()
    assert ours == pytest.approx(_skimage_ssim(a, b, 2.0), abs=1e-3)
    # Unrelated random images as well (SSIM near 0).
    c = rng.uniform(-1, 1, a.shape)
    assert ssim(_grey(a), _grey(c)).item() == pytest.approx(_skimage_ssim(a, c, 2.0), abs=1e-3)


def test_ssim_matches_skimage_on_random_rgb() -> None:
    rng = np.random.default_rng(2)
    a = rng.uniform(0, 1, (33, 47, 3))
    b = np.clip(a + rng.normal(0, 0.1, a.shape), 0, 1)
    ours = ssim(_rgb(a), _rgb(b), data_range=1.0).item()
    assert ours == pytest.approx(_skimage_ssim(a, b, 1.0, rgb=True), abs=1e-3)


@pytest.mark.parametrize("noise", [0.01, 0.05, 0.2, 0.5])
def test_ssim_matches_skimage_on_noisy_smooth_image(noise: float) -> None:
    yy, xx = np.mgrid[0:64, 0:64] / 63.0
    smooth = np.sin(3 * xx) * np.cos(2 * yy)  # in [-1, 1]
    rng = np.random.default_rng(3)
    noisy = np.clip(smooth + rng.normal(0, noise, smooth.shape), -1, 1)
    ours = ssim(_grey(noisy), _grey(smooth)).item()
    assert ours == pytest.approx(_skimage_ssim(noisy, smooth, 2.0), abs=1e-3)


def test_ssim_matches_skimage_on_camera_and_astronaut() -> None:
    rng = np.random.default_rng(4)
    cam = _camera()
    cam_noisy = np.clip(cam + rng.normal(0, 0.1, cam.shape), -1, 1)
    cam_blur = filters.gaussian(cam, sigma=2.0)
    for other in (cam_noisy, cam_blur):
        assert ssim(_grey(other), _grey(cam)).item() == pytest.approx(_skimage_ssim(other, cam, 2.0), abs=1e-3)

    ast = _astronaut()
    ast_noisy = np.clip(ast + rng.normal(0, 0.05, ast.shape), 0, 1)
    ours = ssim(_rgb(ast_noisy), _rgb(ast), data_range=1.0).item()
    assert ours == pytest.approx(_skimage_ssim(ast_noisy, ast, 1.0, rgb=True), abs=1e-3)
    # Same image on the 8-bit scale.
    ours_255 = ssim(_rgb(ast_noisy * 255), _rgb(ast * 255), data_range=255.0).item()
    assert ours_255 == pytest.approx(ours, abs=1e-4)


def test_ssim_of_identical_images_is_one() -> None:
    x = _grey(_camera(64))
    assert ssim(x, x).item() == pytest.approx(1.0, abs=1e-6)


def test_ssim_rejects_bad_input() -> None:
    with pytest.raises(ValueError):
        ssim(torch.zeros(1, 1, 8, 8), torch.zeros(1, 1, 8, 8))  # smaller than the window
    with pytest.raises(ValueError):
        ssim(torch.zeros(1, 1, 16, 16), torch.zeros(1, 3, 16, 16))
    with pytest.raises(ValueError):
        ssim(torch.zeros(1, 1, 16, 16), torch.zeros(1, 1, 16, 16), window_size=10)


# -------------------------------------------------------------------------------------------- PSNR


def test_psnr_matches_skimage() -> None:
    rng = np.random.default_rng(5)
    cam = _camera(64)
    noisy = np.clip(cam + rng.normal(0, 0.1, cam.shape), -1, 1)
    expected = peak_signal_noise_ratio(cam, noisy, data_range=2.0)
    assert psnr(_grey(noisy), _grey(cam)).item() == pytest.approx(expected, abs=1e-3)

    ast = _astronaut(32)
    ast_noisy = np.clip(ast + rng.normal(0, 0.02, ast.shape), 0, 1)
    expected = peak_signal_noise_ratio(ast, ast_noisy, data_range=1.0)
    assert psnr(_rgb(ast_noisy), _rgb(ast), data_range=1.0).item() == pytest.approx(expected, abs=1e-3)


def test_psnr_of_identical_images_is_capped() -> None:
    x = _grey(_camera(32))
    assert psnr(x, x).item() == pytest.approx(PSNR_MAX_DB)


# -------------------------------------------------------------------------------------------- GMSD


def test_gmsd_of_image_with_itself_is_zero() -> None:
    cam = _grey(_camera())
    assert gmsd(cam, cam).item() == 0.0
    ast = _rgb(_astronaut())
    assert gmsd(ast, ast, data_range=1.0).item() == 0.0


@pytest.mark.parametrize("shape", [(96, 96), (75, 82)])  # even and odd sizes (odd exercises the padding)
def test_gmsd_zero_padding_reproduces_reference_code(shape: tuple[int, int]) -> None:
    rng = np.random.default_rng(6)
    ref = (_camera()[: shape[0], : shape[1]] + 1) / 2  # [0, 1]
    dist = np.clip(filters.gaussian(ref, sigma=1.0) + rng.normal(0, 0.03, ref.shape), 0, 1)
    expected = _reference_gmsd(ref * 255, dist * 255)
    ours = gmsd(_grey(dist), _grey(ref), data_range=1.0, padding="zeros").item()
    assert ours == pytest.approx(expected, rel=1e-4, abs=1e-6)
    # The same images on the 8-bit scale give the same value.
    ours_255 = gmsd(_grey(dist * 255), _grey(ref * 255), data_range=255.0, padding="zeros").item()
    assert ours_255 == pytest.approx(expected, rel=1e-4, abs=1e-6)


def test_gmsd_rgb_uses_rgb2gray_luminance() -> None:
    rng = np.random.default_rng(7)
    ref = _astronaut()
    dist = np.clip(ref + rng.normal(0, 0.05, ref.shape), 0, 1)
    weights = np.array([0.2989, 0.5870, 0.1140])
    expected = _reference_gmsd(ref @ weights * 255, dist @ weights * 255)
    ours = gmsd(_rgb(dist), _rgb(ref), data_range=1.0, padding="zeros").item()
    assert ours == pytest.approx(expected, rel=1e-4, abs=1e-6)


def test_gmsd_does_not_depend_on_intensity_offset() -> None:
    rng = np.random.default_rng(8)
    ref = _camera(64)
    dist = np.clip(ref + rng.normal(0, 0.1, ref.shape), -1, 1)
    in_pm1 = gmsd(_grey(dist), _grey(ref), data_range=2.0).item()
    in_01 = gmsd(_grey((dist + 1) / 2), _grey((ref + 1) / 2), data_range=1.0).item()
    assert in_pm1 == pytest.approx(in_01, rel=1e-5)


def test_gmsd_grows_with_blur() -> None:
    cam = _camera()
    values = [gmsd(_grey(filters.gaussian(cam, sigma=s)), _grey(cam)).item() for s in (0.5, 1.0, 2.0, 4.0)]
    assert values == sorted(values)
    assert len(set(values)) == len(values)
    assert values[0] > 0.0
    assert values[-1] <= 0.35


def test_gmsd_grows_with_noise() -> None:
    cam = _camera()
    rng = np.random.default_rng(9)
    noise = rng.normal(0, 1, cam.shape)
    values = [gmsd(_grey(cam + s * noise), _grey(cam)).item() for s in (0.02, 0.05, 0.1, 0.2, 0.4)]
    assert values == sorted(values)
    assert len(set(values)) == len(values)
    assert values[0] > 0.0
    assert values[-1] <= 0.35


def test_gmsd_rejects_bad_input() -> None:
    with pytest.raises(ValueError):
        gmsd(torch.zeros(1, 2, 16, 16), torch.zeros(1, 2, 16, 16))
    with pytest.raises(ValueError):
        gmsd(torch.zeros(1, 1, 3, 16), torch.zeros(1, 1, 3, 16))
    with pytest.raises(ValueError):
        gmsd(torch.zeros(1, 1, 16, 16), torch.zeros(1, 1, 16, 16), padding="reflect")  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------- total variation


def test_total_variation_of_constant_image_is_zero() -> None:
    assert total_variation(torch.full((2, 3, 9, 7), 0.3)).tolist() == [0.0, 0.0]


def test_total_variation_of_checkerboard() -> None:
    # One-pixel checkerboard of -1 and 1: every neighbour difference is 2 in both directions.
    yy, xx = torch.meshgrid(torch.arange(6), torch.arange(5), indexing="ij")
    board = ((yy + xx) % 2).float() * 2 - 1
    assert total_variation(board[None, None]).item() == pytest.approx(2.0)
    # Vertical stripes 0,1,0,1 (4 wide, 3 high): horizontal mean |diff| 1, vertical 0 -> (1 + 0) / 2.
    stripes = torch.tensor([[0.0, 1.0, 0.0, 1.0]] * 3)
    assert total_variation(stripes[None, None]).item() == pytest.approx(0.5)
    # 2x2 checkerboard blocks on a 4x4 image: in each row (column) 1 of its 3 pairs differs by 1 -> 1/3.
    blocks = torch.tensor([[0.0, 0, 1, 1], [0, 0, 1, 1], [1, 1, 0, 0], [1, 1, 0, 0]])
    assert total_variation(blocks[None, None]).item() == pytest.approx(1 / 3)
    # Scales with the contrast, and each image of a batch gets its own value.
    both = torch.stack([blocks, 4 * blocks])[:, None]
    torch.testing.assert_close(total_variation(both), torch.tensor([1 / 3, 4 / 3]))


# ------------------------------------------------------------------------------------------ losses

_PAIR_FUNCTIONS = {"psnr": psnr, "ssim": ssim, "gmsd": gmsd}
_LOSSES = {"ssim_loss": ssim_loss, "gmsd_loss": gmsd_loss, "tv_loss": lambda p, t: tv_loss(p)}


def _batch(n: int = 3, channels: int = 3, size: int = 32, seed: int = 10) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    target = torch.rand(n, channels, size, size, generator=gen) * 2 - 1
    target = torch.nn.functional.avg_pool2d(target, 3, stride=1, padding=1)  # some structure
    pred = (target + 0.2 * torch.randn(target.shape, generator=gen)).clamp(-1, 1)
    return pred, target


def test_loss_values_and_shapes() -> None:
    pred, target = _batch()
    assert ssim_loss(pred, target).shape == ()
    assert ssim_loss(pred, target).item() == pytest.approx((1 - ssim(pred, target)).mean().item())
    assert gmsd_loss(pred, target).item() == pytest.approx(gmsd(pred, target).mean().item())
    assert tv_loss(pred).item() == pytest.approx(total_variation(pred).mean().item())


@pytest.mark.parametrize("name", [*_PAIR_FUNCTIONS, "total_variation"])
def test_batch_equals_one_at_a_time(name: str) -> None:
    pred, target = _batch(n=4)
    if name == "total_variation":
        batched = total_variation(pred)
        single = torch.cat([total_variation(pred[i : i + 1]) for i in range(4)])
    else:
        fn = _PAIR_FUNCTIONS[name]
        batched = fn(pred, target)
        single = torch.cat([fn(pred[i : i + 1], target[i : i + 1]) for i in range(4)])
    assert batched.shape == (4,)
    torch.testing.assert_close(batched, single, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("identical", [False, True])
@pytest.mark.parametrize("name", [*_LOSSES, "psnr"])
def test_gradients_are_finite(name: str, identical: bool) -> None:
    pred, target = _batch()
    if identical:
        pred = target.clone()
    pred.requires_grad_(True)
    fn = (lambda p, t: psnr(p, t).mean()) if name == "psnr" else _LOSSES[name]
    value = fn(pred, target)
    value.backward()
    assert torch.isfinite(value)
    assert pred.grad is not None and torch.isfinite(pred.grad).all()
    if identical and name != "tv_loss":
        assert value.item() == pytest.approx({"ssim_loss": 0.0, "gmsd_loss": 0.0, "psnr": PSNR_MAX_DB}[name])


@pytest.mark.parametrize("identical", [False, True])
@pytest.mark.parametrize("name", list(_LOSSES))
def test_losses_under_bfloat16_autocast(name: str, identical: bool) -> None:
    pred_f32, target = _batch()
    if identical:
        pred_f32 = target.clone()
    conv = torch.nn.Conv2d(3, 3, 1, bias=False)
    with torch.no_grad():
        conv.weight.copy_(torch.eye(3).view(3, 3, 1, 1))
    with torch.autocast(device_type="cpu", dtype=torch.bfloat16):
        pred = conv(pred_f32)  # a bfloat16 activation, as a generator would produce
        assert pred.dtype == torch.bfloat16
        value = _LOSSES[name](pred, target)
    value.backward()
    assert value.dtype == torch.float32
    assert torch.isfinite(value)
    assert conv.weight.grad is not None and torch.isfinite(conv.weight.grad).all()
    reference = _LOSSES[name](pred.detach().float(), target)
    assert value.item() == pytest.approx(reference.item(), abs=1e-5)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("identical", [False, True])
@pytest.mark.parametrize("name", [*_LOSSES, "psnr"])
def test_half_precision_inputs(name: str, dtype: torch.dtype, identical: bool) -> None:
    pred_f32, target_f32 = _batch()
    if identical:
        pred_f32 = target_f32.clone()
    pred = pred_f32.to(dtype).requires_grad_(True)
    target = target_f32.to(dtype)
    fn = (lambda p, t: psnr(p, t).mean()) if name == "psnr" else _LOSSES[name]
    value = fn(pred, target)
    value.backward()
    assert torch.isfinite(value)
    assert pred.grad is not None and pred.grad.dtype == dtype and torch.isfinite(pred.grad).all()
    # The half-precision result is the float32 result on the rounded inputs.
    reference = fn(pred.detach().float(), target.float())
    assert value.item() == pytest.approx(reference.item(), rel=1e-5, abs=1e-6)
