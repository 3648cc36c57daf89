"""The data.bad_images policy: every kind of bad or unusual file in a folder is converted, left out and
counted (skip), or stops the run in one line that names it (strict)."""

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ganforge.data.folder import ImageFolder
from ganforge.data.paired import PairedFolder
from ganforge.errors import UserError
from tests.catalogue.bad_inputs import png_claiming
from tests.test_cli import assert_one_line_error, run_cli


def _noise(size=(24, 24), mode="RGB", seed=0) -> Image.Image:
    rng = np.random.default_rng(seed)
    channels = {"RGB": 3, "RGBA": 4}.get(mode)
    shape = size[::-1] + ((channels,) if channels else ())
    return Image.fromarray((rng.random(shape) * 255).astype("uint8"), mode if channels else "L")


@pytest.fixture
def mixed(tmp_path) -> tuple[Path, set[str], set[str]]:
    """A folder of good, convertible and unusable files: (folder, usable names, unusable names)."""
    folder = tmp_path / "mixed"
    folder.mkdir()
    for i in range(4):
        _noise(seed=i).save(folder / f"good{i}.png")
    _noise().convert("CMYK").save(folder / "cmyk.jpg")
    Image.fromarray((np.random.default_rng(1).random((24, 24)) * 65535).astype("uint16")).save(folder / "deep.png")
    _noise(mode="RGBA").save(folder / "alpha.png")
    palette = _noise().convert("P")
    palette.info["transparency"] = 0
    palette.save(folder / "palette.png", transparency=0)
    usable = {"good0.png", "good1.png", "good2.png", "good3.png", "cmyk.jpg", "deep.png", "alpha.png", "palette.png"}
    (folder / "empty.png").write_bytes(b"")
    (folder / "text.jpg").write_text("not an image")
    Image.new("RGB", (1, 1)).save(folder / "dot.png")
    (folder / "bomb.png").write_bytes(png_claiming(20_000, 20_000))
    (folder / "notes.txt").write_text("not listed: no image extension")
    return folder, usable, {"empty.png", "text.jpg", "dot.png", "bomb.png"}


def test_skip_keeps_the_convertible_files_and_counts_and_names_the_rest(mixed):
    folder, usable, unusable = mixed
    data = ImageFolder(folder, 16, 3, bad_images="skip")
    assert {p.name for p in data.paths} == usable
    assert all(data[i].shape == (3, 16, 16) and torch.isfinite(data[i]).all() for i in range(len(data)))
    (note,) = data.notes()
    assert f"left out {len(unusable)} of {len(usable) + len(unusable)} image files" in note
    assert "empty (0 bytes)" in note and "and 1 more" in note


UNUSABLE = [("empty.png", "empty (0 bytes)"), ("text.jpg", "cannot identify"), ("dot.png", "1x1, too small"),
            ("bomb.png", "decompression bomb")]  # fmt: skip


@pytest.mark.parametrize("name, needle", UNUSABLE)
def test_strict_stops_at_an_unusable_file_and_names_it(mixed, name, needle):
    folder, _, unusable = mixed
    for other in unusable - {name}:
        (folder / other).unlink()
    with pytest.raises(UserError) as error:
        ImageFolder(folder, 16, 3, bad_images="strict")
    message = str(error.value)
    assert str(folder / name) in message and needle in message.lower() and "data.bad_images=skip" in message


def test_a_file_that_fails_to_decode_mid_run_is_replaced_by_the_next_or_stops_a_strict_run(tmp_path, capsys):
    for i in range(3):
        _noise(seed=i).save(tmp_path / f"{i}.png")
    whole = (tmp_path / "1.png").read_bytes()
    (tmp_path / "1.png").write_bytes(whole[: len(whole) // 2])  # the header still reads
    data = ImageFolder(tmp_path, 16, 3, bad_images="skip")
    assert len(data) == 3
    assert torch.equal(data[1], data[2])
    assert torch.equal(data[1], data[2])
    err = capsys.readouterr().err
    assert err.count("warning") == 1 and str(tmp_path / "1.png") in err  # warned once per file
    with pytest.raises(UserError, match="1.png.*truncated"):
        ImageFolder(tmp_path, 16, 3, bad_images="strict")[1]


def test_pairs_with_an_unreadable_half_are_left_out_and_layout_mistakes_stop_either_policy(tmp_path):
    for name in ("a", "b", "c"):
        for side in ("A", "B"):
            (tmp_path / side).mkdir(exist_ok=True)
            _noise(seed=ord(name)).save(tmp_path / side / f"{name}.png")
    (tmp_path / "A" / "b.png").write_bytes(b"")
    (tmp_path / "B" / "b.png").write_bytes(b"")  # both halves bad: one pair left out, counted once
    data = PairedFolder(tmp_path, split=None, image_size=16, bad_images="skip")
    assert data.names == ["a", "c"]
    assert data.notes()[0].startswith("note: left out 1 of 3 pairs")
    with pytest.raises(UserError, match="b.png is empty"):
        PairedFolder(tmp_path, split=None, image_size=16, bad_images="strict")
    for side in ("A", "B"):
        _noise(seed=1).save(tmp_path / side / "b.png")
    _noise(size=(30, 30)).save(tmp_path / "B" / "c.png")  # its partner is 24x24: a layout mistake
    for policy in ("skip", "strict"):
        with pytest.raises(UserError, match="must be the same size"):
            PairedFolder(tmp_path, split=None, image_size=16, bad_images=policy)


def test_training_on_a_folder_with_bad_files_logs_what_it_left_out_or_stops_in_one_line(mixed, capsys, tmp_path):
    folder, usable, unusable = mixed
    args = ["train", "dcgan", "--data", folder, "--image-size", "32", "--steps", "2", "--batch-size", "4", "--quiet",
            "--set", "model.width=8", "--set", "train.log_every=2"]  # fmt: skip
    code, _, err = run_cli(capsys, *args, "--out", tmp_path / "skip")
    assert code == 0, err
    log = (tmp_path / "skip" / "log.txt").read_text()
    assert f"on {len(usable)} images" in log and f"left out {len(unusable)} of" in log
    code, _, err = run_cli(capsys, *args, "--out", tmp_path / "strict", "--set", "data.bad_images=strict")
    assert_one_line_error(code, err, str(folder / "bomb.png"), "data.bad_images=skip")
    assert not (tmp_path / "strict").exists()
