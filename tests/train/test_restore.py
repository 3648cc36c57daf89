"""Seed 002's restoration GAN through the same loop: clean images degraded on the fly."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

import ganforge
from ganforge.metrics.generated import Evaluator
from tests.test_cli import assert_one_line_error, run_cli
from tests.train.test_loop import write_folder

TINY = [
    "model.n_channels=16",
    "model.n_levels=2",
    "model.d_width=4",
    "train.batch_size=4",
    "train.log_every=1",
    "train.sample_every=2",
    "data.image_size=32",
]


@pytest.fixture(scope="module")
def restore_run(tmp_path_factory):
    """ganforge train unet-restore --steps 400: denoising (noise=0.1) of the embedded shapes, 64x64, ~2.5 min."""
    out = tmp_path_factory.mktemp("restore") / "run"
    ganforge.train("unet-restore", steps=400, out=out, quiet=True)
    return out


def test_unet_restore_denoises_well_above_the_noisy_input(capsys, restore_run):
    code, out, _ = run_cli(capsys, "evaluate", restore_run)
    assert code == 0
    r = json.loads((restore_run / "eval_test.json").read_text())
    print(json.dumps(r, indent=1))
    model, noisy = r["model"], r["baseline: input"]
    assert model["images"] == 100
    assert 19 < noisy["psnr"] < 22  # Gaussian noise of std 0.2 in [-1, 1]: about 20 dB
    assert model["psnr"] > noisy["psnr"] + 5
    assert model["ssim"] > noisy["ssim"] + 0.2


def test_translate_works_for_the_restorer(capsys, tmp_path, restore_run):
    Image.fromarray(np.full((48, 80, 3), 120, np.uint8)).save(tmp_path / "flat.png")
    code, _, _ = run_cli(capsys, "translate", restore_run, "--input", tmp_path / "flat.png", "--output", tmp_path / "o")
    assert code == 0 and Image.open(tmp_path / "o" / "flat.png").size == (80, 48)


@pytest.mark.parametrize("loss", ["ssim", "gmsd", "tv"])
def test_each_optional_loss_is_on_by_its_weight(tmp_path, loss):
    run = ganforge.train("unet-restore", steps=2, out=tmp_path / "r", quiet=True, overrides=[*TINY, f"loss.{loss}=1"])
    row = run.metrics()[-1]
    assert np.isfinite(row[f"g_{loss}"])
    assert row["g_loss"] == pytest.approx(row["g_gan"] + 100 * row["g_l1"] + row[f"g_{loss}"], rel=1e-4)
    assert {k for k in row if k.startswith("g_")} == {"g_loss", "g_gan", "g_l1", f"g_{loss}"}


def test_unpadded_unet_crops_targets_and_evaluates(capsys, tmp_path):
    """padding=False (the seed's default): a 2-level U-Net turns 44x44 inputs into 28x28 outputs."""
    overrides = [*TINY, "model.padding=false", "data.image_size=44", "model.up_mode=upconv", "model.d_conditional=true"]
    run = ganforge.train("unet-restore", steps=2, out=tmp_path / "r", quiet=True, overrides=overrides)
    assert Image.open(run.latest_grid()).size == (3 * 30 + 2, 4 * 30 + 2)  # rows of input|output|target at 28
    code, _, _ = run_cli(capsys, "evaluate", run.dir, "--split", "val")
    assert code == 0
    assert json.loads((run.dir / "eval_val.json").read_text())["model"]["images"] == 100
    code, _, err = run_cli(
        capsys, "train", "unet-restore", "--image-size", "64", "--set", "model.padding=false", "--out", tmp_path / "bad"
    )
    assert_one_line_error(code, err, "image_size=64", "92")
    Image.new("RGB", (50, 50)).save(tmp_path / "x.png")
    code, _, err = run_cli(
        capsys, "translate", run.dir, "--input", tmp_path / "x.png", "--output", tmp_path / "o", "--fit", "pad"
    )
    assert_one_line_error(code, err, "--fit resize")


def test_restoration_from_a_folder_with_combined_degradations(capsys, tmp_path):
    clean = write_folder(tmp_path / "clean", n=8, size=36)
    code, _, _ = run_cli(
        capsys,
        "train",
        "unet-restore",
        "--data",
        clean,
        "--degrade",
        "noise=0.05",
        "--degrade",
        "blur=1,jpeg=40",
        "--steps",
        "2",
        "--out",
        tmp_path / "r",
        "--quiet",
        *[x for o in TINY for x in ("--set", o)],
    )
    assert code == 0
    cfg = json.loads((tmp_path / "r" / "config.json").read_text())
    assert cfg["data"]["degrade"] == "noise=0.05,blur=1,jpeg=40"
    g = ganforge.load(tmp_path / "r", device="cpu")  # evaluating on other data leaves the run's config alone
    assert Evaluator(g.config, None, None, data="shapes", split="val")(g)["model"]["images"] == 100
    assert g.config.data.name == str(clean)
    capsys.readouterr()
    code, _, err = run_cli(capsys, "train", "unet-restore", "--degrade", "nois=0.1", "--out", tmp_path / "r2")
    assert_one_line_error(code, err, "nois")


def test_degraded_pairs_are_the_same_every_time():
    from ganforge.api import resolve_config
    from ganforge.data import build_pairs

    cfg = resolve_config("unet-restore", overrides=["data.image_size=32"])
    a, b = build_pairs(cfg, "val"), build_pairs(cfg, "val")
    assert torch.equal(a[3][0], b[3][0]) and not torch.equal(a[3][0], a[3][1])
