"""pix2pix through the same loop: paired data, the PatchGAN on (input, image) pairs, GAN + 100 * L1."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

import ganforge
from ganforge.cli import main
from ganforge.config import load_config
from tests.test_cli import assert_one_line_error, run_cli

TINY = [
    "model.width=8",
    "data.image_size=32",
    "train.batch_size=2",
    "train.log_every=1",
    "train.sample_every=4",
    "train.checkpoint_every=4",
]


def write_aligned(root, n=6, size=40, odd=False):
    """Side-by-side pairs: A (left) is a random picture, B (right) its colour inverse."""
    rng = np.random.default_rng(1)
    for split in ("train", "val", "test"):
        (root / split).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            a = rng.integers(0, 255, (size, size, 3), dtype=np.uint8)
            pair = np.concatenate([a, 255 - a], axis=1)
            if odd and i == 0 and split == "train":
                pair = pair[:, :-1]
            Image.fromarray(pair).save(root / split / f"{i}.jpg" if i % 2 else root / split / f"{i}.png")
    return root


def write_two_folder(root, n=6, size=36):
    rng = np.random.default_rng(2)
    for side in ("A", "B"):
        (root / side).mkdir(parents=True, exist_ok=True)
    for i in range(n):
        a = rng.integers(0, 255, (size, size, 3), dtype=np.uint8)
        Image.fromarray(a).save(root / "A" / f"x{i}.png")
        Image.fromarray(a[:, :, :1].repeat(3, 2)).save(root / "B" / f"x{i}.png")
    return root


def test_pix2pix_preset_is_seed_000():
    c = load_config("pix2pix")
    assert (c.task, c.model.family, c.data.image_size, c.train.batch_size) == ("paired", "pix2pix", 256, 1)
    assert (c.loss.gan, c.loss.l1, c.train.g_optim.lr, c.train.g_optim.beta1) == ("bce", 100.0, 2e-4, 0.5)
    assert c.data.jitter and c.train.log_every == 1


@pytest.mark.parametrize("layout", ["aligned", "two-folder"])
def test_trains_on_both_paired_layouts_and_logs_each_step(tmp_path, layout):
    data = write_aligned(tmp_path / "d") if layout == "aligned" else write_two_folder(tmp_path / "d")
    run = ganforge.train("pix2pix", data=data, steps=4, out=tmp_path / "r", overrides=TINY, quiet=True)
    rows = run.metrics()
    assert [r["step"] for r in rows] == [1, 2, 3, 4]
    for r in rows:
        assert r["g_loss"] == pytest.approx(r["g_gan"] + 100 * r["g_l1"], rel=1e-4)
        assert r["d_loss"] > 0 and np.isfinite(r["g_l1"])
    grid = Image.open(run.latest_grid())
    assert grid.size[0] == 3 * 34 + 2  # input | output | target


def test_paired_resume_with_jitter_is_bit_exact(tmp_path):
    data = write_aligned(tmp_path / "d")
    opts = dict(data=data, overrides=TINY, quiet=True)
    ganforge.train("pix2pix", steps=6, out=tmp_path / "a", **opts)
    ganforge.train("pix2pix", steps=3, out=tmp_path / "b", **opts)
    ganforge.train(resume=tmp_path / "b", steps=6, quiet=True)
    a = torch.load(tmp_path / "a" / "checkpoints" / "latest.pt", weights_only=True)
    b = torch.load(tmp_path / "b" / "checkpoints" / "latest.pt", weights_only=True)
    assert all(torch.equal(a["g"][k], b["g"][k]) for k in a["g"])


def test_paired_data_errors_name_the_file(capsys, tmp_path):
    data = write_aligned(tmp_path / "odd", odd=True)
    code, _, err = run_cli(
        capsys, "train", "pix2pix", "--data", data, "--out", tmp_path / "r", *[x for o in TINY for x in ("--set", o)]
    )
    assert_one_line_error(code, err, "0.png")
    data = write_two_folder(tmp_path / "tf")
    (data / "B" / "x3.png").unlink()
    code, _, err = run_cli(
        capsys, "train", "pix2pix", "--data", data, "--out", tmp_path / "r", *[x for o in TINY for x in ("--set", o)]
    )
    assert_one_line_error(code, err, "x3.png")
    assert not (tmp_path / "r").exists()


@pytest.fixture(scope="module")
def shapes_run(tmp_path_factory):
    """ganforge train pix2pix --data shapes --image-size 64 (width 32, batch 8, 600 steps: about 2 minutes)."""
    out = tmp_path_factory.mktemp("p2p") / "shapes"
    ganforge.train(
        "pix2pix",
        data="shapes",
        image_size=64,
        steps=600,
        batch_size=8,
        out=out,
        quiet=True,
        overrides=["model.width=32", "train.log_every=20", "train.sample_every=300"],
    )
    return out


def test_pix2pix_beats_trivial_baselines_on_shapes(capsys, shapes_run):
    code, out, _ = run_cli(capsys, "evaluate", shapes_run, "--split", "test")
    assert code == 0 and "PSNR" in out
    results = json.loads((shapes_run / "eval_test.json").read_text())
    model, mean, inp = results["model"], results["baseline: mean target"], results["baseline: input"]
    print(json.dumps(results, indent=1))
    assert model["images"] == 100
    assert model["psnr"] > mean["psnr"] + 6  # a clear margin in dB
    assert model["psnr"] > inp["psnr"] + 6
    assert model["ssim"] > mean["ssim"] and model["l1"] < mean["l1"]


def test_translate_keeps_names_and_sizes(capsys, tmp_path, shapes_run):
    src = tmp_path / "in" / "sub"
    src.mkdir(parents=True)
    Image.new("RGB", (50, 70), (200, 30, 30)).save(src / "a.jpg")
    Image.new("RGB", (64, 64), (30, 200, 30)).save(tmp_path / "in" / "b.png")
    code, _, _ = run_cli(capsys, "translate", shapes_run, "--input", tmp_path / "in", "--output", tmp_path / "out")
    assert code == 0
    assert Image.open(tmp_path / "out" / "sub" / "a.png").size == (50, 70)
    assert Image.open(tmp_path / "out" / "b.png").size == (64, 64)
    code, _, _ = run_cli(
        capsys,
        "translate",
        shapes_run,
        "--input",
        tmp_path / "in" / "b.png",
        "--output",
        tmp_path / "o2",
        "--fit",
        "pad",
        "--side-by-side",
    )
    assert code == 0 and Image.open(tmp_path / "o2" / "b.png").size == (128, 64)
    code, _, err = run_cli(capsys, "translate", shapes_run, "--input", tmp_path / "none", "--output", tmp_path / "o")
    assert_one_line_error(code, err, "none")
    code, _, err = run_cli(capsys, "sample", shapes_run, "--out", tmp_path / "s")
    assert_one_line_error(code, err, "translate")
    assert main(["info", str(shapes_run), "--json"]) == 0
