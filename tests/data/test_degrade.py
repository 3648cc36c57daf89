"""Batch degradations for restoration training: spec parsing, each kind's measurable effect, chaining."""

from __future__ import annotations

import math

import pytest
import torch
from skimage import data as skdata

from ganforge.data.degrade import degrade, describe, parse_degradations
from ganforge.errors import UserError


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    """PSNR in dB for images in [-1, 1] (peak-to-peak 2)."""
    mse = (a.double() - b.double()).pow(2).mean().item()
    return 10.0 * torch.log10(torch.tensor(4.0 / mse)).item()


@pytest.fixture(scope="module")
def camera() -> torch.Tensor:
    """The scikit-image cameraman, 256 x 256 centre crop, as (1, 1, H, W) in [-1, 1]."""
    img = torch.from_numpy(skdata.camera()[128:384, 128:384].copy()).float()
    return (img / 127.5 - 1.0)[None, None]


@pytest.fixture(scope="module")
def astronaut() -> torch.Tensor:
    """The scikit-image astronaut, every other pixel (256 x 256), as (1, 3, H, W) in [-1, 1]."""
    img = torch.from_numpy(skdata.astronaut()[::2, ::2].copy()).float()
    return (img / 127.5 - 1.0).permute(2, 0, 1)[None].contiguous()


# ---- parsing -----------------------------------------------------------------------------------------------


def test_parse_single():
    assert parse_degradations("noise=0.1") == [("noise", 0.1)]


def test_parse_several_in_order():
    assert parse_degradations("noise=0.1,blur=1.5,jpeg=40,downscale=4") == [
        ("noise", 0.1),
        ("blur", 1.5),
        ("jpeg", 40.0),
        ("downscale", 4.0),
    ]
    assert parse_degradations("blur=1.5,noise=0.1") == [("blur", 1.5), ("noise", 0.1)]


def test_parse_list_form_concatenates_in_order():
    assert parse_degradations(["blur=2", "noise=0.05,jpeg=30"]) == [("blur", 2.0), ("noise", 0.05), ("jpeg", 30.0)]


def test_parse_tolerates_spaces_and_case():
    assert parse_degradations(" Noise = 0.1 , blur=1 ") == [("noise", 0.1), ("blur", 1.0)]


def test_parse_range_edges_allowed():
    assert parse_degradations("noise=1,blur=20,jpeg=1,jpeg=95,downscale=16,downscale=1.01") == [
        ("noise", 1.0),
        ("blur", 20.0),
        ("jpeg", 1.0),
        ("jpeg", 95.0),
        ("downscale", 16.0),
        ("downscale", 1.01),
    ]


@pytest.mark.parametrize(
    ("spec", "needles"),
    [
        ("sharpen=2", ["'sharpen'", "noise, blur, jpeg, downscale"]),
        ("noise", ["'='", "noise"]),
        ("noise=0.1,blur", ["'blur'", "'='"]),
        ("noise=abc", ["noise", "'abc'", "not a number", "(0, 1]"]),
        ("noise=", ["noise", "not a number"]),
        ("noise=0", ["noise=0", "(0, 1]"]),
        ("noise=1.5", ["noise=1.5", "(0, 1]"]),
        ("noise=nan", ["noise", "(0, 1]"]),
        ("blur=-1", ["blur=-1", "(0, 20]"]),
        ("blur=25", ["blur=25", "(0, 20]"]),
        ("jpeg=0", ["jpeg=0", "integer 1..95"]),
        ("jpeg=100", ["jpeg=100", "integer 1..95"]),
        ("jpeg=50.5", ["jpeg=50.5", "whole number", "integer 1..95"]),
        ("downscale=1", ["downscale=1", "(1, 16]"]),
        ("downscale=32", ["downscale=32", "(1, 16]"]),
        ("", ["empty"]),
        ("   ", ["empty"]),
        ("noise=0.1,", ["empty entry"]),
        ("noise=0.1,,blur=1", ["empty entry"]),
    ],
)
def test_parse_errors_name_option_and_fix(spec, needles):
    with pytest.raises(UserError) as info:
        parse_degradations(spec)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith("--degrade")
    for needle in needles:
        assert needle in message, (needle, message)


def test_parse_empty_list_is_an_error():
    with pytest.raises(UserError, match="--degrade.*no degradations"):
        parse_degradations([])


def test_degrade_checks_pairs_given_directly():
    x = torch.zeros(1, 1, 8, 8)
    with pytest.raises(UserError, match="unknown degradation 'sharpen'"):
        degrade(x, [("sharpen", 1.0)])
    with pytest.raises(UserError, match=r"blur=30 is out of range"):
        degrade(x, [("blur", 30.0)])


@pytest.mark.parametrize(
    "spec", ["noise=0.1", "noise=0.1,blur=1.5", "jpeg=40,downscale=2.5,noise=0.123456789", "blur=1e-05"]
)
def test_describe_round_trips(spec):
    parsed = parse_degradations(spec)
    assert parse_degradations(describe(parsed)) == parsed
    assert describe(parse_degradations(describe(parsed))) == describe(parsed)


def test_describe_canonical_form():
    assert describe(parse_degradations(" noise = 0.10 , JPEG=40.0,blur=1.5")) == "noise=0.1,jpeg=40,blur=1.5"


# ---- noise -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("strength", [0.02, 0.1])
def test_noise_std_in_unit_range(strength):
    clean = torch.zeros(2, 3, 64, 64)  # mid-grey: no clamping for small strengths
    noisy = degrade(clean, [("noise", strength)], generator=_gen(0))
    std = (noisy - clean).std().item()
    assert std == pytest.approx(2 * strength, rel=0.03)
    assert (noisy - clean).mean().abs().item() < 0.05 * 2 * strength


def test_noise_reproducible_from_generator():
    clean = torch.zeros(2, 1, 16, 16)
    a = degrade(clean, [("noise", 0.1)], generator=_gen(7))
    b = degrade(clean, [("noise", 0.1)], generator=_gen(7))
    c = degrade(clean, [("noise", 0.1)], generator=_gen(8))
    assert torch.equal(a, b)
    assert not torch.allclose(a, c)


def test_noise_uses_global_generator_when_none():
    clean = torch.zeros(1, 1, 16, 16)
    torch.manual_seed(3)
    a = degrade(clean, [("noise", 0.1)])
    torch.manual_seed(3)
    b = degrade(clean, [("noise", 0.1)])
    assert torch.equal(a, b)


def test_noise_clamped_and_input_untouched():
    clean = torch.full((1, 3, 32, 32), 0.9)
    noisy = degrade(clean, [("noise", 0.5)], generator=_gen(0))
    assert noisy.min().item() >= -1.0 and noisy.max().item() <= 1.0
    assert (noisy == 1.0).any()  # strong noise near white does clamp
    assert torch.equal(clean, torch.full((1, 3, 32, 32), 0.9))


# ---- blur --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("sigma", [0.7, 3.0, 20.0])
def test_blur_keeps_constant_image(sigma):
    x = torch.full((2, 3, 20, 24), 0.3)  # sigma 20 needs padding far beyond the image: still constant
    out = degrade(x, [("blur", sigma)])
    assert out.shape == x.shape
    assert torch.allclose(out, x, atol=1e-5)


@pytest.mark.parametrize("sigma", [1.0, 1.5, 3.0])
def test_blur_spreads_a_point_with_the_right_sigma(sigma):
    size = 65
    x = torch.zeros(1, 1, size, size)  # mid-grey, so the background adds nothing to the moments
    x[0, 0, size // 2, size // 2] = 1.0
    weight = degrade(x, [("blur", sigma)])[0, 0].double()
    assert weight.sum().item() == pytest.approx(1.0, rel=1e-5)  # blur keeps the mean
    assert weight.min().item() >= 0.0
    offsets = torch.arange(size, dtype=torch.float64) - size // 2
    rows = (weight.sum(1) * offsets**2).sum() / weight.sum()
    cols = (weight.sum(0) * offsets**2).sum() / weight.sum()
    assert rows.item() == pytest.approx(sigma**2, rel=0.1)
    assert cols.item() == pytest.approx(sigma**2, rel=0.1)


def test_blur_psnr_falls_as_sigma_grows(camera):
    psnrs = [_psnr(degrade(camera, [("blur", s)]), camera) for s in (0.5, 1.0, 2.0, 4.0)]
    assert psnrs == sorted(psnrs, reverse=True)
    assert psnrs[0] - psnrs[-1] > 5.0


# ---- jpeg --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fixture", ["camera", "astronaut"])
def test_jpeg_lower_quality_lower_psnr(fixture, request):
    clean = request.getfixturevalue(fixture)
    psnrs = [_psnr(degrade(clean, [("jpeg", q)]), clean) for q in (90, 50, 20, 5)]
    assert psnrs == sorted(psnrs, reverse=True)
    assert psnrs[0] > 30.0


@pytest.mark.parametrize("channels", [1, 3])
def test_jpeg_keeps_shape_dtype_device(channels):
    x = torch.rand(3, channels, 24, 40, generator=_gen(0)) * 2 - 1
    out = degrade(x, [("jpeg", 30)])
    assert out.shape == x.shape and out.dtype == x.dtype and out.device == x.device
    assert out.min().item() >= -1.0 and out.max().item() <= 1.0
    assert torch.equal(out, degrade(x, [("jpeg", 30)]))  # deterministic
    assert not torch.allclose(out[0], out[1])  # each image compressed on its own


# ---- downscale ---------------------------------------------------------------------------------------------


def test_downscale_keeps_size_and_psnr_falls_with_factor(camera):
    outs = [degrade(camera, [("downscale", f)]) for f in (1.5, 2, 4, 8)]
    assert all(o.shape == camera.shape for o in outs)
    assert all(o.min().item() >= -1.0 and o.max().item() <= 1.0 for o in outs)
    psnrs = [_psnr(o, camera) for o in outs]
    assert psnrs == sorted(psnrs, reverse=True)


def test_downscale_non_square_and_constant():
    x = torch.full((2, 3, 30, 50), -0.4)
    out = degrade(x, [("downscale", 3)])
    assert out.shape == x.shape
    assert torch.allclose(out, x, atol=1e-5)


def test_downscale_larger_than_image_still_works():
    x = torch.rand(1, 1, 8, 8, generator=_gen(0)) * 2 - 1
    out = degrade(x, [("downscale", 16)])  # shrinks to 1 x 1: one value everywhere
    assert out.shape == x.shape
    assert torch.allclose(out, out[0, 0, 0, 0].expand_as(out))
    assert x.min().item() < out[0, 0, 0, 0].item() < x.max().item()


# ---- chaining and general behaviour ------------------------------------------------------------------------


def test_order_matters(camera):
    a = degrade(camera, parse_degradations("noise=0.1,blur=1"), generator=_gen(0))
    b = degrade(camera, parse_degradations("blur=1,noise=0.1"), generator=_gen(0))
    assert not torch.allclose(a, b, atol=1e-3)
    # Blurring after the noise smooths it; noise added last stays at full strength.
    assert _psnr(a, camera) > _psnr(b, camera)


def test_chain_equals_steps_applied_one_by_one(astronaut):
    steps = parse_degradations("blur=1.2,downscale=2,jpeg=60,noise=0.05")
    chained = degrade(astronaut, steps, generator=_gen(4))
    by_hand = astronaut
    gen = _gen(4)
    for step in steps:
        by_hand = degrade(by_hand, [step], generator=gen)
    assert torch.equal(chained, by_hand)


def test_no_gradient_and_dtype_kept():
    x = torch.zeros(1, 3, 16, 16, requires_grad=True)
    out = degrade(x, parse_degradations("blur=1,noise=0.1"), generator=_gen(0))
    assert not out.requires_grad
    half = degrade(torch.zeros(1, 1, 16, 16, dtype=torch.bfloat16), parse_degradations("blur=1,downscale=2"))
    assert half.dtype == torch.bfloat16


def test_bad_tensor_rejected():
    with pytest.raises(ValueError, match="N, C, H, W"):
        degrade(torch.zeros(3, 8, 8), [("blur", 1.0)])
    with pytest.raises(ValueError, match="floating-point"):
        degrade(torch.zeros(1, 1, 8, 8, dtype=torch.uint8), [("blur", 1.0)])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_same_result_on_gpu(astronaut):
    steps = parse_degradations("blur=1.5,noise=0.1,jpeg=50,downscale=2")
    cpu = degrade(astronaut, steps, generator=_gen(1))
    gpu = degrade(astronaut.cuda(), steps, generator=_gen(1))
    assert gpu.device.type == "cuda"
    # JPEG rounds each DCT coefficient to its quantisation step: a float difference at a step's boundary
    # moves a whole 8x8 block a little, so the images agree to 40 dB, not pixel for pixel
    mse = (gpu.cpu() - cpu).pow(2).mean().item()
    assert 10 * math.log10(4 / mse) > 40
