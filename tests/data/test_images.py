"""Image IO: listing, robust loading and conversion, tensor round trips, resizing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ganforge.data.images import (
    IMAGE_EXTENSIONS,
    list_images,
    load_image,
    read_size,
    resize_center_crop,
    to_pil,
    to_tensor,
)
from ganforge.errors import UserError


def _save(path: Path, img: Image.Image, **kwargs) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path, **kwargs)
    return path


def _rgb(width: int, height: int, colour=(10, 20, 30)) -> Image.Image:
    return Image.new("RGB", (width, height), colour)


def test_extensions():
    assert IMAGE_EXTENSIONS == (".png", ".jpg", ".jpeg", ".webp", ".bmp")


def test_list_images_recursive_sorted_case_insensitive(tmp_path):
    for rel in ["b.png", "a.JPG", "sub/c.Jpeg", "sub/deeper/d.webp", "e.bmp", "z/f.PNG"]:
        _save(tmp_path / rel, _rgb(4, 4), format="PNG")
    (tmp_path / "notes.txt").write_text("not an image")
    _save(tmp_path / ".hidden.png", _rgb(4, 4))
    _save(tmp_path / "._resource.png", _rgb(4, 4))
    _save(tmp_path / ".cache" / "x.png", _rgb(4, 4))
    (tmp_path / "folder.png").mkdir()  # a folder with an image-like name is not an image

    found = [p.relative_to(tmp_path).as_posix() for p in list_images(tmp_path)]
    assert found == ["a.JPG", "b.png", "e.bmp", "sub/c.Jpeg", "sub/deeper/d.webp", "z/f.PNG"]


def test_list_images_missing_folder_is_empty(tmp_path):
    assert list_images(tmp_path / "nope") == []


def test_load_rgb_and_grey(tmp_path):
    path = _save(tmp_path / "x.png", _rgb(5, 3, (200, 100, 50)))
    rgb = load_image(path, 3)
    assert rgb.mode == "RGB" and rgb.size == (5, 3)
    assert rgb.getpixel((0, 0)) == (200, 100, 50)
    grey = load_image(path, 1)
    assert grey.mode == "L"
    assert grey.getpixel((0, 0)) == Image.new("RGB", (1, 1), (200, 100, 50)).convert("L").getpixel((0, 0))


def test_load_grey_as_rgb_replicates(tmp_path):
    path = _save(tmp_path / "g.png", Image.new("L", (4, 4), 77))
    assert load_image(path, 3).getpixel((1, 1)) == (77, 77, 77)


def test_rgba_transparency_becomes_white(tmp_path):
    arr = np.zeros((4, 4, 4), dtype=np.uint8)
    arr[..., :3] = (255, 0, 0)  # hidden red under full transparency
    arr[0, 0] = (0, 0, 255, 255)  # one opaque blue pixel
    arr[1, 1] = (0, 0, 0, 128)  # half-transparent black
    path = _save(tmp_path / "a.png", Image.fromarray(arr))
    img = load_image(path, 3)
    assert img.mode == "RGB"
    assert img.getpixel((0, 0)) == (0, 0, 255)
    assert img.getpixel((3, 3)) == (255, 255, 255)
    assert all(abs(v - 127) <= 1 for v in img.getpixel((1, 1)))
    assert load_image(path, 1).getpixel((3, 3)) == 255


def test_grey_with_alpha(tmp_path):
    path = _save(tmp_path / "la.png", Image.new("LA", (3, 3), (40, 0)))
    assert load_image(path, 1).getpixel((0, 0)) == 255


def test_palette_images(tmp_path):
    pal = Image.new("P", (4, 4), 1)
    pal.putpalette([0, 0, 0, 10, 200, 30] + [0] * (256 * 3 - 6))
    plain = _save(tmp_path / "p.png", pal)
    assert load_image(plain, 3).getpixel((0, 0)) == (10, 200, 30)

    bmp = _save(tmp_path / "p.bmp", pal)
    assert Image.open(bmp).mode == "P"
    assert load_image(bmp, 3).getpixel((2, 2)) == (10, 200, 30)

    pal.info["transparency"] = 1  # index 1 is transparent
    clear = _save(tmp_path / "pt.png", pal, transparency=1)
    assert Image.open(clear).mode == "P"
    assert load_image(clear, 3).getpixel((0, 0)) == (255, 255, 255)


def test_colour_key_transparency(tmp_path):
    img = Image.new("RGB", (2, 1), (10, 20, 30))
    img.putpixel((1, 0), (1, 2, 3))
    path = _save(tmp_path / "key.png", img, transparency=(1, 2, 3))
    loaded = load_image(path, 3)
    assert loaded.getpixel((0, 0)) == (10, 20, 30) and loaded.getpixel((1, 0)) == (255, 255, 255)


def test_sixteen_bit_is_scaled_not_clipped(tmp_path):
    arr = np.array([[0, 257 * 128, 65535, 1000]], dtype=np.uint16)
    path = _save(tmp_path / "deep.png", Image.fromarray(arr))
    assert Image.open(path).mode.startswith("I")
    grey = np.asarray(load_image(path, 1))
    assert grey.tolist() == [[0, 128, 255, 4]]
    assert load_image(path, 3).getpixel((1, 0)) == (128, 128, 128)


def test_exif_orientation_applied_and_reported(tmp_path):
    img = _rgb(6, 2)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees when displayed
    path = _save(tmp_path / "rot.jpg", img, exif=exif.tobytes())
    assert read_size(path) == (2, 6)
    assert load_image(path, 3).size == (2, 6)


def test_read_size(tmp_path):
    assert read_size(_save(tmp_path / "s.webp", _rgb(7, 3))) == (7, 3)


@pytest.mark.parametrize("content", [b"", b"this is not a png at all", b"\x89PNG\r\n\x1a\n" + b"\0" * 20])
def test_corrupt_file_raises_user_error(tmp_path, content):
    path = tmp_path / "broken.png"
    path.write_bytes(content)
    with pytest.raises(UserError) as info:
        load_image(path, 3)
    msg = str(info.value)
    assert str(path) in msg and "remove or replace it" in msg and "\n" not in msg
    with pytest.raises(UserError, match="broken.png"):
        read_size(path)


def test_truncated_file_fails_on_load(tmp_path):
    rng = np.random.default_rng(0)
    good = _save(tmp_path / "good.png", Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)))
    cut = tmp_path / "cut.png"
    cut.write_bytes(good.read_bytes()[:600])
    assert read_size(cut) == (64, 64)  # the header is fine...
    with pytest.raises(UserError, match="cannot read image .*cut.png"):
        load_image(cut, 3)  # ...the pixels are not


def test_bad_channels():
    with pytest.raises(ValueError):
        load_image(Path("x.png"), 2)


def test_to_tensor_range_and_shape():
    arr = np.array([[[0, 255, 128]]], dtype=np.uint8)
    t = to_tensor(Image.fromarray(arr))
    assert t.dtype == torch.float32 and t.shape == (3, 1, 1)
    assert t.flatten().tolist() == pytest.approx([-1.0, 1.0, 128 / 127.5 - 1], abs=1e-6)
    grey = to_tensor(Image.new("L", (5, 2), 255))
    assert grey.shape == (1, 2, 5) and torch.all(grey == 1.0)


def test_round_trip_is_exact():
    rng = np.random.default_rng(1)
    for shape in [(6, 5, 3), (6, 5)]:
        img = Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8))
        back = to_pil(to_tensor(img))
        assert back.mode == img.mode
        assert np.array_equal(np.asarray(back), np.asarray(img))


def test_to_pil_clamps_and_checks_shape():
    t = torch.tensor([[[-3.0, 3.0]]])
    assert np.asarray(to_pil(t)).tolist() == [[0, 255]]
    assert to_pil(torch.zeros(2, 3)).size == (3, 2)
    assert to_pil(torch.zeros(4, 2, 2)).mode == "RGBA"
    with pytest.raises(ValueError):
        to_pil(torch.zeros(2, 4, 4))


def test_resize_center_crop_keeps_the_middle():
    arr = np.zeros((100, 300, 3), dtype=np.uint8)
    arr[:, :100] = (255, 0, 0)
    arr[:, 100:200] = (0, 255, 0)
    arr[:, 200:] = (0, 0, 255)
    out = resize_center_crop(Image.fromarray(arr), 40)
    assert out.size == (40, 40)
    mid = np.asarray(out)[:, 2:-2]
    assert (mid[..., 1] > 240).all() and (mid[..., 0] < 15).all()


@pytest.mark.parametrize(("size", "target"), [((50, 100), 32), ((10, 20), 32), ((33, 33), 64), ((7, 3), 3)])
def test_resize_center_crop_sizes(size, target):
    assert resize_center_crop(_rgb(*size), target).size == (target, target)


def test_resize_center_crop_same_size_is_untouched():
    img = _rgb(16, 16)
    assert resize_center_crop(img, 16) is img
