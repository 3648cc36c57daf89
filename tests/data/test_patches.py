"""Super-resolution's training data (data/patches.py): patches at the photographs' own resolution."""

import numpy as np
import pytest
import torch
from PIL import Image

from ganforge.api import resolve_config
from ganforge.data import build_dataset
from ganforge.data.paired import MissingSplit
from ganforge.data.patches import ImagePatches, PairedPatches, starts
from ganforge.errors import UserError


def _photo(path, w, h, seed=0):
    rng = np.random.default_rng(seed)
    arr = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path)
    return arr


def _pixels(t):
    return ((t + 1) * 127.5).round().to(torch.uint8).permute(1, 2, 0).numpy()


@pytest.mark.parametrize("length, patch", [(70, 32), (64, 32), (33, 32), (32, 32), (100, 7)])
def test_patches_start_every_half_patch_and_cover_every_pixel(length, patch):
    s = starts(length, patch)
    covered = np.zeros(length, bool)
    for a in s:
        covered[a : a + patch] = True
    assert covered.all() and s[-1] == length - patch
    assert all(0 < b - a <= max(1, patch // 2) for a, b in zip(s, s[1:], strict=False))


def test_a_patch_is_the_photographs_own_pixels_never_resized(tmp_path):
    arrays = {name: _photo(tmp_path / f"{name}.png", w, h, seed=k)
              for k, (name, w, h) in enumerate([("a", 70, 50), ("b", 40, 90)])}  # fmt: skip
    data = ImagePatches(tmp_path, "train", 32, 3)
    assert len(data) == len(starts(70, 32)) * len(starts(50, 32)) + len(starts(40, 32)) * len(starts(90, 32))
    assert data.unsplit and data.in_memory
    for i in (0, 5, len(data) - 1):
        k, y, x = data.index[i]
        source = arrays["ab"[k]]
        np.testing.assert_array_equal(_pixels(data[i]), source[y : y + 32, x : x + 32])
    wholes = list(data.photographs())
    assert [w[0] for w in wholes] == ["a.png", "b.png"] and wholes[1][2].shape == (3, 90, 40)


def test_images_smaller_than_a_patch_are_left_out_and_named(tmp_path):
    _photo(tmp_path / "big.png", 64, 64)
    _photo(tmp_path / "small.png", 20, 64)
    data = ImagePatches(tmp_path, "train", 32, 3)
    assert len(data.paths) == 1 and "small.png" in data.notes()[0]
    with pytest.raises(UserError) as error:
        ImagePatches(tmp_path, "train", 128, 3)
    assert "--image-size" in str(error.value) and "\n" not in str(error.value)


def test_split_folders_are_read_apart(tmp_path):
    _photo(tmp_path / "train" / "x.png", 64, 64)
    _photo(tmp_path / "val" / "y.png", 96, 64)
    assert len(ImagePatches(tmp_path, "val", 32, 3)) == len(starts(96, 32)) * len(starts(64, 32))
    assert not ImagePatches(tmp_path, "train", 32, 3).unsplit
    with pytest.raises(MissingSplit):
        ImagePatches(tmp_path, "test", 32, 3)


def _pair(root, name, w, h, scale, seed=0, low_size=None):
    high = _photo(root / "HR" / f"{name}.png", w, h, seed)
    low = Image.fromarray(high).resize(low_size or (w // scale, h // scale), Image.BICUBIC)
    (root / "LR").mkdir(exist_ok=True)
    low.save(root / "LR" / f"{name}.png")
    return np.asarray(low), high


def test_explicit_pairs_are_cut_at_the_same_place_in_both(tmp_path):
    low, high = _pair(tmp_path, "p", 96, 64, 2)
    data = PairedPatches(tmp_path, "train", 32, 2, 3)
    assert len(data) == len(starts(48, 16)) * len(starts(32, 16))
    for i in (0, len(data) - 1):
        k, y, x = data.index[i]
        lr, hr = data[i]
        assert lr.shape == (3, 16, 16) and hr.shape == (3, 32, 32)
        np.testing.assert_array_equal(_pixels(lr), low[y : y + 16, x : x + 16])
        np.testing.assert_array_equal(_pixels(hr), high[2 * y : 2 * y + 32, 2 * x : 2 * x + 32])


def test_pairs_of_another_scale_or_without_a_partner_are_one_line(tmp_path):
    _pair(tmp_path, "p", 96, 64, 3)
    with pytest.raises(UserError) as error:
        PairedPatches(tmp_path, "train", 32, 2, 3)
    assert "model.scale=2" in str(error.value) and "\n" not in str(error.value)
    other = tmp_path / "other"
    _photo(other / "HR" / "lonely.png", 64, 64)
    (other / "LR").mkdir()
    with pytest.raises(UserError) as error:
        PairedPatches(other, "train", 32, 2, 3)
    assert "lonely.png" in str(error.value)


def test_an_srgan_run_reads_a_folder_as_patches_or_pairs(tmp_path):
    _photo(tmp_path / "photos" / "a.png", 64, 64)
    _pair(tmp_path / "pairs", "a", 64, 64, 2)
    for name, kind in (("photos", ImagePatches), ("pairs", PairedPatches)):
        cfg = resolve_config("srgan-x2", data=str(tmp_path / name), overrides=["data.image_size=32",
                                                                              "model.d_arch=unet"])  # fmt: skip
        assert isinstance(build_dataset(cfg, "train"), kind)
