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
