"""Paired folders: both layouts, directions, splits and every user error."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader

from ganforge.data.paired import PairedFolder, detect_layout
from ganforge.errors import UserError

A_VALUE, B_VALUE = 40, 210  # solid grey levels of the A and B images, so each side is recognisable


def _value(level: int) -> float:
    return level / 127.5 - 1.0


def _save(path: Path, width: int, height: int, level: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (width, height), (level, level, level)).save(path)
    return path


def _aligned(path: Path, width: int = 16, height: int = 8) -> Path:
    """A side-by-side pair: left half A_VALUE, right half B_VALUE."""
    path.parent.mkdir(parents=True, exist_ok=True)
    img = Image.new("RGB", (width, height), (A_VALUE,) * 3)
    img.paste((B_VALUE,) * 3, (width // 2, 0, width, height))
    img.save(path)
    return path


def _two_folder(root: Path, names=("x", "y"), size=(8, 8)) -> Path:
    for name in names:
        _save(root / "A" / f"{name}.png", *size, A_VALUE)
        _save(root / "B" / f"{name}.png", *size, B_VALUE)
    return root


def _is_a(t: torch.Tensor) -> bool:
    return torch.allclose(t, torch.full_like(t, _value(A_VALUE)), atol=0.02)


def _is_b(t: torch.Tensor) -> bool:
    return torch.allclose(t, torch.full_like(t, _value(B_VALUE)), atol=0.02)


def _one_line(err: pytest.ExceptionInfo) -> str:
    msg = str(err.value)
    assert "\n" not in msg
    return msg


# ------------------------------------------------------------------------------------------- layouts


def test_detect_layouts(tmp_path):
    aligned = tmp_path / "aligned"
    _aligned(aligned / "1.png")
    assert detect_layout(aligned) == "aligned"

    split_aligned = tmp_path / "split_aligned"
    _aligned(split_aligned / "train" / "1.png")
    assert detect_layout(split_aligned) == "aligned"

    assert detect_layout(_two_folder(tmp_path / "two")) == "two-folder"
    assert detect_layout(_two_folder(tmp_path / "outer" / "train").parent) == "two-folder"

    inner = tmp_path / "inner"
    _save(inner / "A" / "train" / "x.png", 8, 8, A_VALUE)
    _save(inner / "B" / "train" / "x.png", 8, 8, B_VALUE)
    assert detect_layout(inner) == "two-folder"


def test_detect_missing_root(tmp_path):
    with pytest.raises(UserError) as err:
        detect_layout(tmp_path / "nowhere")
    msg = _one_line(err)
    assert "nowhere" in msg and "A/ and B/" in msg and "left half" in msg


def test_a_without_b(tmp_path):
    _save(tmp_path / "A" / "x.png", 8, 8, A_VALUE)
    with pytest.raises(UserError) as err:
        detect_layout(tmp_path)
    msg = _one_line(err)
    assert "no B/ folder" in msg and str(tmp_path / "B") in msg


# ------------------------------------------------------------------------------------------- aligned


@pytest.mark.parametrize(("direction", "input_is_a"), [("AtoB", True), ("BtoA", False)])
def test_aligned_directions(tmp_path, direction, input_is_a):
    _aligned(tmp_path / "p1.png")
    _aligned(tmp_path / "sub" / "p2.jpg")
    ds = PairedFolder(tmp_path, direction=direction, image_size=12)
    assert ds.layout == "aligned" and len(ds) == 2
    assert ds.names == ["p1", "sub/p2"]
    source, target = ds[0]
    assert source.shape == target.shape == (3, 12, 12)
    assert source.dtype == torch.float32
    assert _is_a(source) == input_is_a and _is_b(target) == input_is_a
    assert _is_b(source) != input_is_a


def test_aligned_halves_are_not_mixed(tmp_path):
    """Resizing after splitting: no B pixels bleed into A's edge."""
    _aligned(tmp_path / "p.png", width=64, height=16)
    source, target = PairedFolder(tmp_path, image_size=16, load_size=24)[0]
    assert source.shape == (3, 24, 24)
    assert _is_a(source) and _is_b(target)


def test_aligned_splits(tmp_path):
    for i in range(3):
        _aligned(tmp_path / "train" / f"{i}.png")
    for i in range(2):
        _aligned(tmp_path / "val" / f"{i}.png")
    assert len(PairedFolder(tmp_path, split="train")) == 3
    assert len(PairedFolder(tmp_path, split="val")) == 2
    assert len(PairedFolder(tmp_path, split=None)) == 5
    with pytest.raises(UserError) as err:
        PairedFolder(tmp_path, split="test")
    msg = _one_line(err)
    assert str(tmp_path / "test") in msg and "no test/ folder" in msg and "train/, val/" in msg


def test_no_split_folders_means_whole_root(tmp_path):
    _aligned(tmp_path / "a.png")
    _aligned(tmp_path / "b.png")
    assert len(PairedFolder(tmp_path, split="test")) == len(PairedFolder(tmp_path, split="train")) == 2


def test_aligned_odd_width(tmp_path):
    _aligned(tmp_path / "good.png")
    bad = _save(tmp_path / "odd.png", 17, 8, 0)
    with pytest.raises(UserError) as err:
        PairedFolder(tmp_path)
    msg = _one_line(err)
    assert str(bad) in msg and "17x8" in msg and "odd width" in msg
    assert "single photos" in msg and "--degrade" in msg  # the likely cause: photos given to pix2pix


def test_aligned_empty_folder(tmp_path):
    (tmp_path / "readme.txt").write_text("no images here")
    with pytest.raises(UserError) as err:
        PairedFolder(tmp_path)
    msg = _one_line(err)
    assert str(tmp_path) in msg and "no images" in msg and "left half" in msg and "A/ and B/" in msg


def test_corrupt_image_fails_at_construction(tmp_path):
    _aligned(tmp_path / "good.png")
    (tmp_path / "bad.png").write_bytes(b"garbage")
    with pytest.raises(UserError, match=r"cannot read image .*bad\.png.*remove or replace it"):
        PairedFolder(tmp_path)


def test_corrupt_pixels_stop_a_strict_set_when_it_is_made(tmp_path):
    path = _aligned(tmp_path / "p.png", width=64, height=32)
    path.write_bytes(path.read_bytes()[:60])  # header intact, pixel data cut
    with pytest.raises(UserError, match=r"p\.png"):
        PairedFolder(tmp_path, image_size=8, bad_images="strict")


# ---------------------------------------------------------------------------------------- two-folder


@pytest.mark.parametrize(("direction", "input_is_a"), [("AtoB", True), ("BtoA", False)])
def test_two_folder_directions(tmp_path, direction, input_is_a):
    _two_folder(tmp_path)
    ds = PairedFolder(tmp_path, direction=direction, image_size=8)
    assert ds.layout == "two-folder" and ds.names == ["x", "y"]
    source, target = ds[1]
    assert _is_a(source) == input_is_a and _is_b(target) == input_is_a


def test_two_folder_matches_by_stem_and_subfolder(tmp_path):
    _save(tmp_path / "A" / "city" / "1.png", 8, 8, A_VALUE)
    _save(tmp_path / "B" / "city" / "1.jpg", 8, 8, B_VALUE)
    _save(tmp_path / "A" / "2.bmp", 8, 8, A_VALUE)
    _save(tmp_path / "B" / "2.PNG", 8, 8, B_VALUE)
    ds = PairedFolder(tmp_path, image_size=8)
    assert ds.names == ["2", "city/1"]
    assert [p.b.name for p in ds.pairs] == ["2.PNG", "1.jpg"]
    assert _is_b(ds[1][1])


def test_two_folder_split_outer_form(tmp_path):
    _two_folder(tmp_path / "train", names=("a", "b", "c"))
    _two_folder(tmp_path / "test", names=("d",))
    assert PairedFolder(tmp_path, split="train").names == ["a", "b", "c"]
    assert PairedFolder(tmp_path, split="test").names == ["d"]
    assert PairedFolder(tmp_path, split=None).names == ["train/a", "train/b", "train/c", "test/d"]
    with pytest.raises(UserError) as err:
        PairedFolder(tmp_path, split="val")
    assert str(tmp_path / "val") in _one_line(err)


def test_two_folder_split_inner_form(tmp_path):
    for split, names in (("train", ("a", "b")), ("val", ("c",))):
        for name in names:
            _save(tmp_path / "A" / split / f"{name}.png", 8, 8, A_VALUE)
            _save(tmp_path / "B" / split / f"{name}.png", 8, 8, B_VALUE)
    assert PairedFolder(tmp_path, split="train").names == ["a", "b"]
    assert PairedFolder(tmp_path, split="val").names == ["c"]
    with pytest.raises(UserError) as err:
        PairedFolder(tmp_path, split="test")
    assert str(tmp_path / "A" / "test") in _one_line(err)


def test_two_folder_inner_split_missing_partner_folder(tmp_path):
    _save(tmp_path / "A" / "train" / "a.png", 8, 8, A_VALUE)
    _save(tmp_path / "B" / "other.png", 8, 8, B_VALUE)
    with pytest.raises(UserError) as err:
        PairedFolder(tmp_path, split="train")
    msg = _one_line(err)
    assert str(tmp_path / "A" / "train") in msg and str(tmp_path / "B" / "train") in msg


def test_size_mismatch(tmp_path):
    _two_folder(tmp_path)
    _save(tmp_path / "A" / "z.png", 256, 256, A_VALUE)
    _save(tmp_path / "B" / "z.png", 300, 200, B_VALUE)
    with pytest.raises(UserError) as err:
        PairedFolder(tmp_path)
    msg = _one_line(err)
    assert f"{tmp_path / 'A' / 'z.png'} is 256x256 but {tmp_path / 'B' / 'z.png'} is 300x200" in msg


@pytest.mark.parametrize(("lonely", "other"), [("A", "B"), ("B", "A")])
def test_missing_partner(tmp_path, lonely, other):
    _two_folder(tmp_path)
    extra = _save(tmp_path / lonely / "solo.png", 8, 8, 0)
    _save(tmp_path / lonely / "solo2.png", 8, 8, 0)
    with pytest.raises(UserError) as err:
        PairedFolder(tmp_path)
    msg = _one_line(err)
    assert f"{extra} has no partner in {tmp_path / other}" in msg and "1 more" in msg


def test_duplicate_stems(tmp_path):
    _two_folder(tmp_path)
    _save(tmp_path / "A" / "x.jpg", 8, 8, A_VALUE)
    with pytest.raises(UserError) as err:
        PairedFolder(tmp_path)
    msg = _one_line(err)
    assert "x.jpg" in msg and "x.png" in msg and "same name" in msg


def test_empty_two_folder(tmp_path):
    (tmp_path / "A").mkdir()
    (tmp_path / "B").mkdir()
    with pytest.raises(UserError) as err:
        PairedFolder(tmp_path)
    msg = _one_line(err)
    assert str(tmp_path / "A") in msg and "has no images" in msg and "matching names" in msg


# --------------------------------------------------------------------------------------- the options


def test_channels_and_sizes(tmp_path):
    _two_folder(tmp_path, size=(20, 10))
    ds = PairedFolder(tmp_path, image_size=8, load_size=10, in_channels=1, out_channels=3)
    source, target = ds[0]
    assert source.shape == (1, 10, 10) and target.shape == (3, 10, 10)
    assert _is_a(source) and _is_b(target)
    source, target = PairedFolder(tmp_path, image_size=8, in_channels=3, out_channels=1)[0]
    assert source.shape == (3, 8, 8) and target.shape == (1, 8, 8)


def test_batches_through_a_loader(tmp_path):
    _two_folder(tmp_path, names=("a", "b", "c"), size=(12, 12))
    source, target = next(iter(DataLoader(PairedFolder(tmp_path, image_size=8), batch_size=3)))
    assert source.shape == target.shape == (3, 3, 8, 8)


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"direction": "AB"}, "direction"),
        ({"split": "training"}, "split"),
        ({"in_channels": 4}, "in_channels"),
        ({"out_channels": 2}, "out_channels"),
        ({"image_size": 64, "load_size": 32}, "load_size"),
    ],
)
def test_bad_options(tmp_path, kwargs, needle):
    _two_folder(tmp_path)
    with pytest.raises(UserError) as err:
        PairedFolder(tmp_path, **kwargs)
    assert needle in _one_line(err)
