"""Batch jitter for pix2pix: one crop and mirror per sample, shared by input and target, reproducible."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from ganforge.data.augment import jitter_load_size, random_jitter


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _batch(n: int, c: int, size: int, seed: int = 0) -> torch.Tensor:
    return torch.rand(n, c, size, size, generator=_gen(seed)) * 2 - 1


def test_default_load_size():
    assert jitter_load_size(256) == 286
    assert jitter_load_size(64) == 72
    assert jitter_load_size(128) == 143


def test_output_sizes_and_channels():
    source, target = random_jitter(_batch(3, 1, 40), _batch(3, 3, 40), size=32, generator=_gen(0))
    assert source.shape == (3, 1, 32, 32) and target.shape == (3, 3, 32, 32)
    assert source.dtype == target.dtype == torch.float32
    assert source.is_contiguous() and target.is_contiguous()


def test_a_channels_last_batch_stays_channels_last():
    x = _batch(2, 3, 40).contiguous(memory_format=torch.channels_last)
    source, target = random_jitter(x, x.clone(), size=32, generator=_gen(0))
    plain, _ = random_jitter(x.contiguous(), x.contiguous(), size=32, generator=_gen(0))
    assert source.is_contiguous(memory_format=torch.channels_last) and not source.is_contiguous()
    assert torch.equal(source, plain)


def test_full_size_pix2pix_default():
    source, target = random_jitter(_batch(2, 3, 256), _batch(2, 3, 256), size=256, generator=_gen(0))
    assert source.shape == target.shape == (2, 3, 256, 256)


def test_same_crop_and_mirror_for_input_and_target():
    x = _batch(64, 3, 48)
    source, target = random_jitter(x, x.clone(), size=40, load_size=54, generator=_gen(1))
    assert torch.equal(source, target)
    # Different channel counts: the target's channel 0 is still cropped like the input's channel 2.
    source, target = random_jitter(x, x[:, 2:].mul(0.5), size=40, load_size=54, generator=_gen(1))
    assert torch.equal(source[:, 2:] * 0.5, target)


def _window_or_mirror(out: torch.Tensor, x: torch.Tensor, size: int) -> tuple[int, int, bool]:
    """The (top, left, mirrored) window of x that out is, or fail."""
    span = x.shape[-1] - size + 1
    for top in range(span):
        for left in range(span):
            window = x[:, top : top + size, left : left + size]
            if torch.equal(out, window):
                return top, left, False
            if torch.equal(out, window.flip(-1)):
                return top, left, True
    raise AssertionError("output is not a window of the input")


def test_crops_are_windows_and_cover_all_offsets():
    # No resize (load_size = input size), so every output is an exact window, maybe mirrored.
    n, full, size = 300, 7, 5
    x = torch.arange(n * 2 * full * full, dtype=torch.float32).reshape(n, 2, full, full)
    source, _ = random_jitter(x, x, size=size, load_size=full, generator=_gen(2))
    found = [_window_or_mirror(source[i], x[i], size) for i in range(n)]
    assert {(t, left) for t, left, _ in found} == {(t, left) for t in range(3) for left in range(3)}
    assert len({m for *_, m in found}) == 2


def test_mirror_probability_is_about_half():
    n = 4000
    x = torch.tensor([-1.0, 1.0]).expand(n, 1, 2, 2).contiguous()  # left column -1, right column 1
    source, target = random_jitter(x, x, size=2, load_size=2, generator=_gen(3))
    flipped = source[:, 0, 0, 0] > 0
    assert 0.46 < flipped.float().mean().item() < 0.54
    assert torch.equal(source, target)


def test_resizes_bilinear_to_load_size():
    x = _batch(16, 3, 16)
    # size == load_size leaves only the mirror to chance: each output is the bilinear resize, maybe flipped.
    source, _ = random_jitter(x, x, size=20, load_size=20, generator=_gen(0))
    resized = F.interpolate(x, size=(20, 20), mode="bilinear", align_corners=False)
    for out, ref in zip(source, resized, strict=True):
        assert torch.equal(out, ref) or torch.equal(out, ref.flip(-1))
    # Shrinking works as well (load_size below the input size).
    small, _ = random_jitter(_batch(2, 3, 64), _batch(2, 3, 64), size=24, load_size=28, generator=_gen(0))
    assert small.shape == (2, 3, 24, 24)


def test_reproducible_with_the_same_generator_seed():
    x, y = _batch(8, 3, 32, seed=5), _batch(8, 1, 32, seed=6)
    first = random_jitter(x, y, size=28, generator=_gen(7))
    second = random_jitter(x, y, size=28, generator=_gen(7))
    other = random_jitter(x, y, size=28, generator=_gen(8))
    assert torch.equal(first[0], second[0]) and torch.equal(first[1], second[1])
    assert not torch.equal(first[0], other[0])


def test_generator_state_advances():
    g = _gen(9)
    x = _batch(8, 3, 32)
    a, _ = random_jitter(x, x, size=28, generator=g)
    b, _ = random_jitter(x, x, size=28, generator=g)
    assert not torch.equal(a, b)


def test_global_rng_when_no_generator():
    x = _batch(4, 3, 20)
    torch.manual_seed(0)
    a, _ = random_jitter(x, x, size=16)
    torch.manual_seed(0)
    b, _ = random_jitter(x, x, size=16)
    assert torch.equal(a, b)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_cuda_matches_cpu_with_a_cpu_generator():
    x, y = _batch(8, 3, 32, seed=1), _batch(8, 3, 32, seed=2)
    cpu = random_jitter(x, y, size=28, generator=_gen(4))
    gpu = random_jitter(x.cuda(), y.cuda(), size=28, generator=_gen(4))
    assert gpu[0].device.type == "cuda"
    torch.testing.assert_close(gpu[0].cpu(), cpu[0], atol=1e-5, rtol=0)
    torch.testing.assert_close(gpu[1].cpu(), cpu[1], atol=1e-5, rtol=0)
    on_device = torch.Generator(device="cuda").manual_seed(4)
    assert random_jitter(x.cuda(), y.cuda(), size=28, generator=on_device)[0].shape == (8, 3, 28, 28)


@pytest.mark.parametrize(
    ("source", "target", "size", "load_size"),
    [
        (torch.zeros(2, 3, 16, 16), torch.zeros(2, 3, 16, 8), 8, None),  # different H, W
        (torch.zeros(2, 3, 16, 16), torch.zeros(3, 3, 16, 16), 8, None),  # different N
        (torch.zeros(3, 16, 16), torch.zeros(3, 16, 16), 8, None),  # not batched
        (torch.zeros(2, 3, 16, 16, dtype=torch.uint8), torch.zeros(2, 3, 16, 16), 8, None),  # integers
        (torch.zeros(2, 3, 16, 16), torch.zeros(2, 3, 16, 16), 16, 12),  # load_size < size
    ],
)
def test_bad_arguments(source, target, size, load_size):
    with pytest.raises(ValueError):
        random_jitter(source, target, size=size, load_size=load_size)
