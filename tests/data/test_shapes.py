"""The built-in shapes pairs: deterministic, disjoint splits, and a target no trivial guess reaches."""

from __future__ import annotations

import hashlib
import time

import numpy as np
import pytest
import torch

from ganforge.data import shapes
from ganforge.data.shapes import INPUT_PALETTE, ShapesPairs, input_to_labels, render_target
from ganforge.errors import UserError


def _fresh(**kwargs) -> ShapesPairs:
    shapes._build.cache_clear()
    return ShapesPairs(**kwargs)


def _hashes(ds: ShapesPairs) -> set[str]:
    return {hashlib.sha1(img.numpy().tobytes()).hexdigest() for img in ds.inputs}


def _psnr(pred: torch.Tensor, target: torch.Tensor) -> float:
    """Mean per-image PSNR in dB of images in [-1, 1] (the data range is 2)."""
    mse = (pred - target).square().flatten(1).mean(1)
    return (10 * torch.log10(4.0 / mse)).mean().item()


def _floats(images: torch.Tensor) -> torch.Tensor:
    return images.float() / 127.5 - 1.0


def test_items():
    ds = ShapesPairs(n=10, image_size=32)
    assert len(ds) == 10
    source, target = ds[3]
    assert source.shape == target.shape == (3, 32, 32)
    assert source.dtype == target.dtype == torch.float32
    assert source.min() >= -1 and source.max() <= 1 and target.min() >= -1 and target.max() <= 1
    assert ds.in_channels == ds.out_channels == 3


def test_same_seed_is_identical_and_seeds_differ():
    a = _fresh(n=300, seed=3)
    b = _fresh(n=300, seed=3)
    assert a.inputs is not b.inputs
    assert torch.equal(a.inputs, b.inputs) and torch.equal(a.targets, b.targets)
    c = _fresh(n=300, seed=4)
    assert not torch.equal(a.inputs, c.inputs)
    assert ShapesPairs(n=300, seed=3).inputs is ShapesPairs(n=300, seed=3).inputs  # cached


def test_prefix_does_not_depend_on_n():
    big = ShapesPairs(n=300, seed=1)
    small = ShapesPairs(n=40, seed=1)
    assert torch.equal(small.targets, big.targets[:40])


def test_splits_never_overlap():
    sets = {split: _hashes(ShapesPairs(n=300, split=split)) for split in ("train", "val", "test")}
    assert all(len(h) == 300 for h in sets.values())  # no repeats inside a split either
    assert not sets["train"] & sets["val"]
    assert not sets["train"] & sets["test"]
    assert not sets["val"] & sets["test"]


def test_input_is_a_flat_label_map_with_every_class():
    ds = ShapesPairs(n=100)
    colours = torch.unique(ds.inputs.permute(0, 2, 3, 1).reshape(-1, 3), dim=0)
    assert torch.equal(colours, torch.unique(torch.from_numpy(INPUT_PALETTE), dim=0))
    counts = np.bincount(ds.labels.numpy().ravel(), minlength=4)
    assert (counts > 0).all()
    assert 0.6 < counts[0] / counts.sum() < 0.95  # shapes cover a fair share of the picture


def test_target_is_a_function_of_the_input():
    ds = ShapesPairs(n=50)
    labels = input_to_labels(ds.inputs.permute(0, 2, 3, 1).numpy())
    assert np.array_equal(labels, ds.labels.numpy())
    rendered = render_target(labels)
    assert np.array_equal(rendered, ds.targets.permute(0, 2, 3, 1).numpy())


def test_scenes_do_not_depend_on_resolution():
    small = ShapesPairs(n=4, image_size=32).labels.float()
    large = ShapesPairs(n=4, image_size=128).labels
    # Nearest-downsampled large labels agree with the small ones almost everywhere (not on edges).
    agree = (large[:, 2::4, 2::4].float() == small).float().mean()
    assert agree > 0.95


def test_trivial_baselines_are_far_below_a_learned_model():
    """The bar a trained model must clear, on the val split at 64 x 64 (run with -s to see it)."""
    train, val = ShapesPairs(n=1000, split="train"), ShapesPairs(n=200, split="val")
    train_t, val_t = _floats(train.targets), _floats(val.targets)

    as_input = _psnr(_floats(val.inputs), val_t)
    mean_image = _psnr(train_t.mean(0, keepdim=True).expand_as(val_t), val_t)
    # The best guess from a pixel's own colour alone: each class's mean target colour.
    per_pixel = train_t.permute(0, 2, 3, 1)
    lookup = torch.stack([per_pixel[train.labels == k].mean(0) for k in range(len(INPUT_PALETTE))])
    per_class = _psnr(lookup[val.labels.long()].permute(0, 3, 1, 2), val_t)

    print(
        f"\nshapes 64x64 val PSNR: input {as_input:.2f} dB, mean target {mean_image:.2f} dB, "
        f"per-class colour {per_class:.2f} dB"
    )
    assert as_input < 10
    assert mean_image < 16
    assert per_class < 21  # well below the 25 dB or more a U-Net should reach


def test_fast_enough():
    start = time.perf_counter()
    _fresh(n=1000, image_size=64, seed=11)
    assert time.perf_counter() - start < 5.0  # about 0.5 s on one core; slack for busy machines


@pytest.mark.parametrize("kwargs", [{"split": "training"}, {"n": 0}, {"image_size": 4}, {"seed": -1}])
def test_bad_arguments(kwargs):
    with pytest.raises(UserError):
        ShapesPairs(**kwargs)
