"""Inputs a new user gets wrong end in one line that names the key or flag, exit status 2, nothing written."""

import subprocess
import sys

import pytest

from tests.test_cli import assert_one_line_error, run_cli

TRAIN = ["train", "dcgan-mnist", "--data", "digits", "--steps", "2"]


@pytest.mark.parametrize(
    "setting, needles",
    [
        ("train.g_optim.lr=-0.001", ["train.g_optim.lr", "positive"]),
        ("train.d_optim.lr=nan", ["train.d_optim.lr", "finite"]),
        ("train.g_optim.beta1=1.0", ["train.g_optim.beta1", "[0, 1)"]),
        ("train.d_optim.rho=1.5", ["train.d_optim.rho", "[0, 1)"]),
        ("train.g_optim.clip_value=-1", ["train.g_optim.clip_value", "at least 0"]),
        ("loss.l1=-100", ["loss.l1", "at least 0"]),
        ("loss.label_smoothing=1", ["loss.label_smoothing", "[0, 1)"]),
        ("train.steps=0", ["train.steps", "nothing to train"]),
    ],
)
def test_out_of_range_settings_name_their_key(capsys, tmp_path, setting, needles):
    code, _, err = run_cli(capsys, *TRAIN, "--out", tmp_path / "r", "--set", setting)
    assert_one_line_error(code, err, *needles)
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize(
    "args, needles",
    [
        (["--steps", "0"], ["--steps 0", "positive"]),
        (["--epochs", "0"], ["--epochs 0", "positive"]),
        (["--device", "mps"], ["'mps'", "cpu, cuda"]),
        (["--data", ""], ["data.name", "empty"]),
        (["--degrade", "noise=0.1"], ["data.degrade", "generates from noise", "drop --degrade"]),
        (["--model-configs", "model_configs.json"], ["--model-configs", "unet", "drop --model-configs"]),
    ],
)
def test_flags_that_would_train_nothing_or_nowhere_are_refused(capsys, tmp_path, args, needles):
    code, _, err = run_cli(capsys, "train", "dcgan-mnist", "--out", tmp_path / "r", *args)
    assert_one_line_error(code, err, *needles)
    assert not (tmp_path / "r").exists()


def test_a_closed_pipe_is_no_traceback():
    """`ganforge presets | head -1`: the reader is gone before ganforge writes (the pipe closed at once)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "ganforge", "presets"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    process.stdout.close()
    err = process.stderr.read()
    process.wait(timeout=120)
    assert "Traceback" not in err and "BrokenPipe" not in err, err


def test_a_data_path_that_is_a_file_is_called_a_file(capsys, tmp_path):
    image = tmp_path / "one.png"
    image.write_bytes(b"not really")
    code, _, err = run_cli(capsys, "train", "dcgan", "--data", image, "--steps", "1", "--out", tmp_path / "r")
    assert_one_line_error(code, err, "is a file", "folder")
    assert "does not exist" not in err


@pytest.mark.parametrize(
    "args, needles",
    [
        (["--batch-size", "0"], ["train.batch_size", "in --batch-size", "positive"]),
        (["--precision", "fp8"], ["train.precision", "in --precision", "fp32"]),
        (["--set", "train.batch_size=0"], ["train.batch_size", "in --set", "positive"]),
        (["--set", "train.precision=fp8", "--precision", "bf16"], ["train.precision", "in --set"]),
    ],
)
def test_a_bad_value_names_the_flag_or_set_it_came_from(capsys, tmp_path, args, needles):
    code, _, err = run_cli(capsys, *TRAIN, "--out", tmp_path / "r", *args)
    assert_one_line_error(code, err, *needles)


def test_a_bad_value_in_a_config_file_names_the_file(capsys, tmp_path):
    config = tmp_path / "mine.json"
    config.write_text('{"preset": "dcgan-mnist", "train": {"batch_size": -4}}')
    code, _, err = run_cli(capsys, "train", config, "--data", "digits", "--steps", "2", "--out", tmp_path / "r")
    assert_one_line_error(code, err, "train.batch_size", f"in {config}", "positive")
    assert "--set" not in err


@pytest.mark.parametrize("given", ["configs/mine", "configs/mine.json", "."])
def test_a_config_path_that_is_not_a_file_is_not_called_a_preset(capsys, tmp_path, given):
    code, _, err = run_cli(capsys, "train", given, "--out", tmp_path / "r")
    assert_one_line_error(code, err, "config file", "preset name", ".json")
    assert "unknown preset" not in err


def test_a_folder_named_like_a_preset_does_not_hide_the_preset(tmp_path, monkeypatch):
    from ganforge.config import load_config

    monkeypatch.chdir(tmp_path)
    (tmp_path / "dcgan").mkdir()
    assert load_config("dcgan").preset == "dcgan"


def _aligned_pairs(folder, n, seed=0):
    import numpy as np
    from PIL import Image

    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    for i in range(n):
        Image.fromarray((rng.random((32, 64, 3)) * 255).astype("uint8")).save(folder / f"{i}.png")


PIX2PIX = ["train", "pix2pix", "--image-size", "32", "--steps", "2", "--quiet", "--set", "model.width=8", "--set",
           "train.log_every=2", "--set", "train.sample_every=2", "--set", "train.checkpoint_every=2"]  # fmt: skip


def test_a_pair_folder_with_train_and_test_but_no_val_trains_and_holds_out_its_test(capsys, tmp_path):
    _aligned_pairs(tmp_path / "pairs" / "train", 8)
    _aligned_pairs(tmp_path / "pairs" / "test", 4, seed=1)
    run = tmp_path / "run"
    code, _, err = run_cli(capsys, *PIX2PIX, "--data", tmp_path / "pairs", "--out", run)
    assert code == 0, err
    assert (run / "samples" / "step_0000002.png").is_file()  # the grid shows the test pairs
    code, _, err = run_cli(capsys, "evaluate", run, "--split", "val")
    assert_one_line_error(code, err, "no val/", "--split train or test")


def test_evaluating_on_a_folder_without_splits_says_it_scores_the_training_images(capsys, tmp_path):
    _aligned_pairs(tmp_path / "pairs", 70)
    run = tmp_path / "run"
    assert run_cli(capsys, *PIX2PIX, "--data", tmp_path / "pairs", "--out", run)[0] == 0
    code, out, err = run_cli(capsys, "evaluate", run, "--json")
    assert code == 0, err
    assert "warning" in err and "are the training ones" in err and "--data FOLDER" in err
    import json

    assert "are the training ones" in json.loads(out)["warning"]
    _aligned_pairs(tmp_path / "held_out", 6, seed=3)
    code, out, err = run_cli(capsys, "evaluate", run, "--json", "--data", tmp_path / "held_out")
    assert code == 0 and "warning" not in err and "warning" not in json.loads(out)


def test_held_out_data_that_are_the_training_images_are_known_as_such(tmp_path):
    from ganforge.api import resolve_config
    from ganforge.data import build_pairs

    _aligned_pairs(tmp_path / "photos", 4)
    degraded = resolve_config("unet-restore", data=tmp_path / "photos", degrade="noise=0.1", image_size=32)
    assert build_pairs(degraded, "test").unsplit  # a plain folder: every split is the training images
    assert build_pairs(resolve_config("unet-restore", image_size=32), "test").unsplit is False  # shapes


@pytest.mark.parametrize(
    "args, needles",
    [
        (["pix2pix", "--data", "shapes", "--image-size", "16384"], ["data.image_size=16384", "2048 at most"]),
        (["unet-restore", "--image-size", "8192"], ["data.image_size=8192", "unet", "1024 at most"]),
        (["pix2pix", "--data", "shapes", "--image-size", "1024"], ["shapes", "512x512 at most", "--image-size 512"]),
        (["unet-restore", "--set", "data.channels=1"], ["data.in_channels=3", "data.channels=1", "--degrade"]),
    ],
)
def test_sizes_and_channels_a_family_or_data_set_cannot_take_are_refused_before_any_memory_is_spent(
    capsys, tmp_path, args, needles
):
    code, _, err = run_cli(capsys, "train", *args, "--steps", "1", "--out", tmp_path / "r")
    assert_one_line_error(code, err, *needles)
    assert not (tmp_path / "r").exists()


def _tiny_dcgan_run(capsys, run):
    """A 2-step DCGAN run at 32x32, width 8, trained through the command line."""
    code, _, err = run_cli(capsys, "train", "dcgan", "--data", "digits", "--image-size", "32", "--steps", "2",
                           "--batch-size", "8", "--quiet", "--set", "model.width=8", "--out", run)  # fmt: skip
    assert code == 0, err
    return run


def test_a_run_config_edited_after_training_is_named_not_a_traceback(capsys, tmp_path):
    import json

    run = _tiny_dcgan_run(capsys, tmp_path / "run")
    config = json.loads((run / "config.json").read_text())
    config["model"]["width"] = 16
    (run / "config.json").write_text(json.dumps(config))
    before = {p: p.read_bytes() for p in run.rglob("*") if p.is_file()}
    for argv in (["train", "--resume", run, "--steps", "4"], ["sample", run, "--out", tmp_path / "s.png"]):
        code, _, err = run_cli(capsys, *argv)
        assert_one_line_error(code, err, "does not fit this run's", "model.width: 8 in the checkpoint, 16 now")
        assert "train.steps" not in err  # what --resume may change is no cause
    assert {p: p.read_bytes() for p in run.rglob("*") if p.is_file() and p.name != "train.lock"} == {
        p: b for p, b in before.items() if p.name != "train.lock"
    }


def test_the_catalogue_of_bad_inputs_ends_each_in_one_line_or_works(tmp_path):
    """tests/catalogue/bad_inputs.py: 185 inputs a new user gets wrong or finds unusual (values, flags, config
    files, image files of every kind, run folders crafted or damaged, checkpoints, outputs aimed into a run,
    rollbacks, sizes, counts and seeds): each is refused in one line with exit status 2 and the run it was
    given untouched, or, for those that should work, works."""
    from tests.catalogue.bad_inputs import sweep

    report = sweep(tmp_path)
    fine = ("clean", "handled")
    bad = [f"{c['ending']}: {c['case']}: {c['said']}" for c in report["cases"] if c["ending"] not in fine]
    assert not bad, "\n".join(bad)
    assert report["tried"] >= 180 and report["summary"]["handled"] >= 30
    assert not (tmp_path / "ganforge-bad-inputs-payload-ran").exists()


def test_resume_flags_are_named_in_their_errors(capsys, tmp_path):
    run = _tiny_dcgan_run(capsys, tmp_path / "run")
    code, _, err = run_cli(capsys, "train", "--resume", run, "--steps", "4", "--stop-on", "boredom")
    assert_one_line_error(code, err, "'health.stop_on' in --stop-on", "boredom")


def test_a_checkpoint_mismatch_blames_only_the_keys_that_shape_the_networks():
    from ganforge.runs.checkpoint import mismatch

    saved = {"version": 2, "model": {"family": "dcgan", "width": 8}, "data": {"name": "./old", "image_size": 32}}
    now = {"version": 2, "model": {"family": "dcgan", "width": 16}, "data": {"name": "/new", "image_size": 32,
           "bad_images": "skip"}, "eval": {"every": 100}}  # fmt: skip
    text = str(mismatch("latest.pt", "g", RuntimeError("size mismatch for net.1.weight"), saved, now))
    assert "generator" in text and "model.width: 8 in the checkpoint, 16 now" in text and "size mismatch" in text
    assert "data.name" not in text and "bad_images" not in text and "eval" not in text
    other = str(mismatch("other.pt", "d", RuntimeError("size mismatch"), {"version": 2, "model": {"width": 8}},
                         {"version": 2, "model": {"width": 8}}))  # fmt: skip
    assert "written by another run or version" in other and "discriminator" in other
