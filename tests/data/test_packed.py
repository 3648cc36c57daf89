"""Packed data sets (`ganforge prepare`, data/prepare.py and data/packed.py): what training on them reads
equals what training on the folder reads, an interrupted pack resumes to the same bytes, and nothing half
written is read as a data set."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

import ganforge
from ganforge.config import load_config
from ganforge.data import build_dataset
from ganforge.data import prepare as prepare_module
from ganforge.data.folder import ImageFolder
from ganforge.data.packed import open_packed
from ganforge.data.paired import PairedFolder
from ganforge.data.prepare import prepare
from ganforge.data.unpaired import unpaired_folder
from ganforge.errors import UserError
from ganforge.train.data_stream import BatchStream
from ganforge.train.runtime import Runtime
from tests.conftest import tiny_overrides
from tests.test_cli import assert_one_line_error, digests, run_cli

CPU = Runtime(torch.device("cpu"))


def photo(rng, w, h, mode="RGB"):
    """A smooth image with some noise, as a photograph compresses (not white noise)."""
    y, x = np.mgrid[0:h, 0:w] / max(w, h)
    base = np.stack([np.sin(6 * x + c) * np.cos(4 * y - c) for c in range(3)], -1) * 90 + 128
    img = Image.fromarray(np.clip(base + rng.normal(0, 12, base.shape), 0, 255).astype(np.uint8))
    return img.convert(mode)


@pytest.fixture(scope="module")
def jpegs(tmp_path_factory):
    """36 JPEGs of several sizes and shapes in two class folders, one of them grey, one rotated by EXIF,
    and a file that is not an image."""
    root = tmp_path_factory.mktemp("jpegs") / "photos"
    rng = np.random.default_rng(0)
    for i in range(36):
        folder = root / ("cats" if i % 3 else "dogs")
        folder.mkdir(parents=True, exist_ok=True)
        w, h = (int(v) for v in rng.integers(40, 90, 2))
        img = photo(rng, w, h, "L" if i == 5 else "RGB")
        exif = Image.Exif()
        if i == 7:
            exif[0x0112] = 6  # shown rotated by 90 degrees
        img.save(folder / f"{i:03d}.jpg", quality=85, exif=exif)
    (root / "dogs" / "broken.jpg").write_bytes(b"not a jpeg")
    return root


@pytest.fixture(scope="module")
def packed(jpegs, tmp_path_factory):
    return prepare(jpegs, tmp_path_factory.mktemp("packs") / "photos32", image_size=32, labels="from-folders",
                   quiet=True)  # fmt: skip


def config(data, **keys):
    cfg = load_config("dcgan")
    cfg.data.name, cfg.data.image_size = str(data), 32
    for key, value in keys.items():
        setattr(cfg.data, key, value)
    return cfg


def test_a_packed_set_holds_the_folder_s_images_as_numpy_reads_them(jpegs, packed):
    manifest = json.loads((packed / "dataset.json").read_text())
    array = np.load(packed / "train_images.npy", mmap_mode="r")  # no ganforge needed to read it
    folder = ImageFolder(jpegs, 32, 3, "skip")
    assert array.shape == (36, 32, 32, 3) and array.dtype == np.uint8 and len(folder) == 36
    assert manifest["skipped_count"] == 1 and "broken.jpg" in manifest["skipped"][0]
    names = (packed / "train_images.txt").read_text().splitlines()
    assert names == [p.relative_to(jpegs).with_suffix("").as_posix() for p in folder.paths]
    data = build_dataset(config(packed), "train")
    for i in range(len(folder)):  # the same decode, orientation, resize and crop: equal, not close
        assert torch.equal(data[i], folder[i]), names[i]
    labels = np.load(packed / "train_labels.npy")
    assert manifest["class_names"] == ["cats", "dogs"]
    assert labels.tolist() == [0 if n.startswith("cats/") else 1 for n in names]


def test_batches_from_a_packed_set_equal_the_folder_s(jpegs, packed):
    """Gathered from the memory map, or held whole (as uint8) and indexed: the folder's batches, in order."""
    folder = ImageFolder(jpegs, 32, 3, "skip")
    data = build_dataset(config(packed), "train")
    loaded = BatchStream(folder, 8, seed=4, runtime=CPU, num_workers=0, start_batch=3)
    gathered = BatchStream(data, 8, seed=4, runtime=CPU, start_batch=3, resident_mib=0)
    resident = BatchStream(data, 8, seed=4, runtime=CPU, start_batch=3)
    assert gathered.resident is None and resident.resident[0].dtype == torch.uint8
    for _ in range(10):  # across epochs (4 batches an epoch)
        a, b, c = next(loaded), next(gathered), next(resident)
        assert torch.equal(a, b) and torch.equal(a, c)
    assert gathered.waited() >= 0 and resident.waited() == 0
    gathered.close()


def test_training_on_the_packed_set_equals_training_on_the_folder(jpegs, packed, tmp_path):
    overrides = [*tiny_overrides(), "data.num_workers=0", "train.checkpoint_every=1000"]
    runs = {}
    for name, data in (("folder", jpegs), ("packed", packed)):
        run = ganforge.train("dcgan", data=str(data), steps=8, out=tmp_path / name, overrides=overrides, quiet=True)
        runs[name] = torch.load(run.checkpoint, weights_only=True)
    for net in ("g", "d"):
        for key, value in runs["folder"][net].items():
            assert torch.equal(value, runs["packed"][net][key]), (net, key)


def test_conditional_training_reads_the_packed_labels(packed, tmp_path):
    from ganforge.data import labelled_for

    cfg = config(packed)
    cfg.model.conditional = True
    data = labelled_for(cfg, build_dataset(cfg, "train"))
    assert data.class_names == ["cats", "dogs"] and cfg.model.num_classes == 2
    stream = BatchStream(data, 8, seed=0, runtime=CPU, resident_mib=0)
    images, labels = next(stream)
    order = next(iter(stream.sampler.__class__(len(data), 8, 0)))
    assert labels.tolist() == [int(data.labels[i]) for i in order]
    assert torch.equal(images, torch.stack([data[i][0] for i in order]))
    stream.close()


def test_an_interrupted_pack_resumes_to_the_same_bytes(jpegs, packed, tmp_path, monkeypatch):
    out = tmp_path / "again"
    real = prepare_module.fit_square
    calls = {"n": 0}

    def stops_at_the_20th(*args):
        calls["n"] += 1
        if calls["n"] == 20:
            raise KeyboardInterrupt
        return real(*args)

    monkeypatch.setattr(prepare_module, "COMMIT_SECONDS", 0.0)  # a commit after each image
    monkeypatch.setattr(prepare_module, "fit_square", stops_at_the_20th)
    with pytest.raises(KeyboardInterrupt, match="the same command goes on"):
        prepare(jpegs, out, image_size=32, labels="from-folders", quiet=True)
    partial = tmp_path / "again.partial"
    assert not out.exists() and partial.is_dir()
    with pytest.raises(UserError, match="not finished; run the same ganforge prepare command"):
        build_dataset(config(partial), "train")  # never read as a data set
    with pytest.raises(UserError, match="other images or options"):
        prepare(jpegs, out, image_size=48, quiet=True)  # not the pack that was started
    monkeypatch.setattr(prepare_module, "fit_square", real)
    prepare(jpegs, out, image_size=32, labels="from-folders", quiet=True)
    assert not partial.exists()
    mine, theirs = digests(out), digests(packed)
    assert {k for k in mine} == {k for k in theirs}
    for name in mine:
        if name.name != "dataset.json":  # which records when it was packed
            assert mine[name] == theirs[name], name


def test_a_full_disk_stops_the_pack_in_one_line_and_it_goes_on_later(jpegs, packed, tmp_path, monkeypatch):
    real, calls = prepare_module._item_bytes, {"n": 0}

    def fills_the_disk(*args):
        calls["n"] += 1
        if calls["n"] == 50:  # the 17th image's names line (3 files an image)
            raise OSError(28, "No space left on device")
        return real(*args)

    monkeypatch.setattr(prepare_module, "_item_bytes", fills_the_disk)
    with pytest.raises(UserError, match="No space left on device.*the same command goes on"):
        prepare(jpegs, tmp_path / "full", image_size=32, labels="from-folders", quiet=True)
    monkeypatch.setattr(prepare_module, "_item_bytes", real)
    prepare(jpegs, tmp_path / "full", image_size=32, labels="from-folders", quiet=True)
    assert np.array_equal(np.load(tmp_path / "full" / "train_images.npy"), np.load(packed / "train_images.npy"))
    assert (tmp_path / "full" / "train_images.txt").read_text() == (packed / "train_images.txt").read_text()


def test_crop_modes(tmp_path):
    src = tmp_path / "wide"
    src.mkdir()
    Image.new("RGB", (80, 40), (200, 30, 30)).save(src / "a.png")
    arrays = {}
    for crop in ("center", "pad", "none"):
        prepare(src, tmp_path / crop, image_size=16, crop=crop, quiet=True)
        arrays[crop] = np.load(tmp_path / crop / "train_images.npy")[0]
    assert (arrays["center"] == [200, 30, 30]).all() and (arrays["none"] == [200, 30, 30]).all()
    pad = arrays["pad"]  # the whole image, 16x8, in the middle of black rows
    assert (pad[:4] == 0).all() and (pad[12:] == 0).all() and (pad[4:12] == [200, 30, 30]).all()


def test_paired_and_unpaired_layouts_pack_with_their_splits(tmp_path):
    rng = np.random.default_rng(1)
    paired, unpaired = tmp_path / "pairs", tmp_path / "sides"
    for split, n in (("train", 6), ("test", 2)):
        (paired / split).mkdir(parents=True)
        for i in range(n):
            photo(rng, 64, 32).save(paired / split / f"{i}.jpg")
        for side, m in (("A", n), ("B", n + 1)):
            (unpaired / f"{split}{side}").mkdir(parents=True)
            for i in range(m):
                photo(rng, 30, 36).save(unpaired / f"{split}{side}" / f"{i}.png")
    prepare(paired, tmp_path / "p", image_size=16, layout="paired", quiet=True)
    prepare(unpaired, tmp_path / "u", image_size=16, layout="unpaired", quiet=True)
    cfg = load_config("pix2pix")
    cfg.data.name, cfg.data.image_size, cfg.data.direction = str(tmp_path / "p"), 16, "BtoA"
    for split in ("train", "test"):
        pairs = open_packed(tmp_path / "p", cfg, split)
        folder = PairedFolder(paired, split, "BtoA", 16)
        assert len(pairs) == len(folder) and pairs.names == folder.names
        for i in range(len(folder)):
            assert all(torch.equal(x, y) for x, y in zip(pairs[i], folder[i], strict=True))
    cfg = load_config("cyclegan")
    cfg.data.name, cfg.data.image_size = str(tmp_path / "u"), 16
    sides = open_packed(tmp_path / "u", cfg, "test")
    folder = unpaired_folder(unpaired, "test", 16, 3)
    assert (len(sides), sides.other_size) == (2, 3)
    assert torch.equal(sides[(1, 2)][1], folder[(1, 2)][1])
    assert sides.pairs() is None  # B has an image that A lacks: not true pairs
    with pytest.raises(UserError, match="packed as unpaired, but this run trains on paired data"):
        open_packed(tmp_path / "u", load_config("pix2pix"), "train")


@pytest.mark.parametrize(
    "argv, needles",
    [
        (["--image-size", "4"], ["--image-size 4"]),
        (["--crop", "zoom"], ["--crop 'zoom'"]),
        (["--layout", "stacked"], ["--layout 'stacked'"]),
        (["--labels", "nowhere.csv"], ["--labels nowhere.csv"]),
    ],
)
def test_bad_options_are_one_line_errors(capsys, jpegs, tmp_path, argv, needles):
    code, _, err = run_cli(capsys, "prepare", jpegs, "--out", tmp_path / "out", "--quiet", *argv)
    assert_one_line_error(code, err, *needles)
    assert not (tmp_path / "out").exists() and not (tmp_path / "out.partial").exists()


def test_the_command_packs_and_refuses_to_overwrite(capsys, jpegs, packed, tmp_path):
    before = digests(packed)
    code, _, err = run_cli(capsys, "prepare", jpegs, "--out", packed, "--quiet")
    assert_one_line_error(code, err, str(packed), "already exists")
    assert digests(packed) == before
    code, out, _ = run_cli(capsys, "prepare", jpegs, "--out", tmp_path / "grey", "--channels", "1", "--quiet")
    assert code == 0 and "train 36" in out and "left out 1" in out
    assert np.load(tmp_path / "grey" / "train_images.npy").shape == (36, 64, 64, 1)


def test_a_run_that_does_not_match_the_pack_is_told_what_to_change(capsys, packed, tmp_path):
    code, _, err = run_cli(capsys, "train", "dcgan", "--data", packed, "--image-size", "64", "--out", tmp_path / "r")
    assert_one_line_error(code, err, "packed at 32 px", "--image-size 32")
    argv = ["train", "dcgan", "--data", packed, "--image-size", "32", "--set", "data.channels=1", "--out", tmp_path]
    code, _, err = run_cli(capsys, *argv)
    assert_one_line_error(code, err, "3 channels", "data.channels=3")
    broken = packed.parent / "broken"
    broken.mkdir()
    (broken / "dataset.json").write_text((packed / "dataset.json").read_text())
    (broken / "train_images.npy").write_bytes((packed / "train_images.npy").read_bytes()[:5000])
    with pytest.raises(UserError, match="pack the data set again"):
        build_dataset(config(broken), "train")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device (benchmarks/gpu_check.sh runs it)")
@pytest.mark.parametrize("channels_last", [False, True])
def test_on_a_gpu_packed_batches_are_converted_there_to_the_folder_s_values(jpegs, packed, channels_last):
    gpu = Runtime(torch.device("cuda"), channels_last=channels_last)
    folder = BatchStream(ImageFolder(jpegs, 32, 3, "skip"), 8, seed=2, runtime=gpu, num_workers=0)
    data = build_dataset(config(packed), "train")
    gathered = BatchStream(data, 8, seed=2, runtime=gpu, resident_mib=0)
    resident = BatchStream(data, 8, seed=2, runtime=gpu)
    assert resident.resident[0].is_cuda and resident.resident[0].dtype == torch.uint8
    for _ in range(6):
        a, b, c = next(folder), next(gathered), next(resident)
        assert b.is_cuda and b.is_contiguous(
            memory_format=torch.channels_last if channels_last else torch.contiguous_format
        )
        assert torch.equal(a, b) and torch.equal(a, c)
    gathered.close()


def _pairs_folder(root, rng, split_sizes=(("train", 8), ("test", 2))):
    for split, n in split_sizes:
        (root / split).mkdir(parents=True)
        for i in range(n):
            photo(rng, 80, 40).save(root / split / f"{i}.jpg", quality=90)
    return root


def _sides_folder(root, rng):
    for split, n in (("train", 6), ("test", 2)):
        for side, m in (("A", n), ("B", n + 2)):
            (root / f"{split}{side}").mkdir(parents=True)
            for i in range(m):
                photo(rng, 44, 36).save(root / f"{split}{side}" / f"{i}.jpg", quality=90)
    return root


FAMILIES = {  # preset, the layout to pack, overrides of a tiny model
    "paired": (
        "unet-restore",
        "paired",
        ["model.n_channels=8", "model.n_levels=2", "model.d_width=4", "data.degrade="],
    ),  # fmt: skip
    "restoration": (
        "unet-restore",
        "images",
        ["model.n_channels=8", "model.n_levels=2", "model.d_width=4", "data.degrade=noise=0.1"],
    ),  # fmt: skip
    "unpaired": ("cyclegan", "unpaired", ["model.width=8", "model.blocks=1"]),
    "conditional": ("dcgan", "images", ["model.width=8", "model.conditional=true"]),
}


@pytest.mark.parametrize("kind", FAMILIES)
def test_every_task_trains_on_its_packed_set_as_on_its_folder(kind, jpegs, tmp_path):
    preset, layout, extra = FAMILIES[kind]
    rng = np.random.default_rng(2)
    source = {"paired": lambda: _pairs_folder(tmp_path / "src", rng),
              "unpaired": lambda: _sides_folder(tmp_path / "src", rng)}.get(layout, lambda: jpegs)()  # fmt: skip
    labels = "from-folders" if kind == "conditional" else ""
    packed = prepare(source, tmp_path / "packed", image_size=32, layout=layout, labels=labels, quiet=True)
    overrides = ["data.image_size=32", "train.batch_size=2", "train.log_every=2", "train.sample_every=4",
                 "train.grid_size=2", "data.num_workers=0", "health.diversity_samples=0", *extra]  # fmt: skip
    weights = []
    for name, data in (("folder", source), ("packed", packed)):
        run = ganforge.train(preset, data=str(data), steps=4, out=tmp_path / f"run_{name}", overrides=overrides,
                             quiet=True)  # fmt: skip
        weights.append(torch.load(run.checkpoint, weights_only=True)["g"])
    assert weights[0].keys() == weights[1].keys()
    for key in weights[0]:
        assert torch.equal(weights[0][key], weights[1][key]), key
