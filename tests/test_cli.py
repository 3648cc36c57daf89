import hashlib
import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from ganforge.cli import main
from tests.conftest import tiny_overrides
from tests.train.test_loop import write_folder

TINY = [arg for o in tiny_overrides() for arg in ("--set", o)]


def run_cli(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code, err, *needles):
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("ganforge: error: ") and "Traceback" not in err
    for needle in needles:
        assert str(needle) in lines[0]


def digests(folder):
    return {p.relative_to(folder): hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.rglob("*") if p.is_file()}


def test_missing_and_empty_data_folders(capsys, tmp_path):
    code, _, err = run_cli(capsys, "train", "dcgan", "--data", tmp_path / "nope", "--out", tmp_path / "r", *TINY)
    assert_one_line_error(code, err, tmp_path / "nope", "does not exist")
    (tmp_path / "empty").mkdir()
    code, _, err = run_cli(capsys, "train", "dcgan", "--data", tmp_path / "empty", "--out", tmp_path / "r", *TINY)
    assert_one_line_error(code, err, tmp_path / "empty", "no images")
    assert not (tmp_path / "r").exists()


def test_corrupt_images_are_named(capsys, tmp_path):
    data = write_folder(tmp_path / "imgs", n=10)
    (data / "bad.png").write_bytes(b"not a png at all")
    strict = ["--set", "data.bad_images=strict"]
    code, _, err = run_cli(capsys, "train", "dcgan", "--data", data, "--out", tmp_path / "r", "--steps", "2", *TINY,
                           *strict)  # fmt: skip
    assert_one_line_error(code, err, data / "bad.png")
    # a PNG whose header reads but whose pixels are cut off: strict decodes every file before training
    (data / "bad.png").unlink()
    whole = (data / "000.png").read_bytes()
    (data / "cut.png").write_bytes(whole[: len(whole) // 2])
    code, _, err = run_cli(
        capsys,
        "train",
        "dcgan",
        "--data",
        data,
        "--out",
        tmp_path / "r2",
        "--steps",
        "4",
        "--set",
        "data.num_workers=1",
        *TINY,
        *strict,
    )
    assert_one_line_error(code, err, data / "cut.png")
    assert not (tmp_path / "r2").exists()


@pytest.mark.parametrize(
    "argv, needles",
    [
        (["train", "stylegan9"], ["stylegan9", "dcgan-mnist"]),
        (["train", "dcgan", "--set", "train.stepz=3"], ["train.stepz"]),
        (["train", "dcgan", "--set", "train.steps=many"], ["train.steps", "int"]),
        (["train", "dcgan", "--set", "model.family=vae"], ["model.family"]),
        (["train", "missing.json"], ["missing.json"]),
        (["info", "nope-preset"], ["nope-preset"]),
    ],
)
def test_bad_input_is_one_line_and_exit_2(capsys, tmp_path, argv, needles):
    code, _, err = run_cli(capsys, *argv, *(["--out", tmp_path / "r"] if argv[0] == "train" else []))
    assert_one_line_error(code, err, *needles)


def test_existing_run_is_never_overwritten(capsys, tmp_path):
    out = tmp_path / "r"
    code, stdout, _ = run_cli(
        capsys, "train", "dcgan", "--data", "digits", "--steps", "4", "--out", out, "--quiet", *TINY
    )
    assert code == 0 and "checkpoint" in stdout
    before = digests(out)
    code, _, err = run_cli(capsys, "train", "dcgan", "--data", "digits", "--steps", "4", "--out", out, *TINY)
    assert_one_line_error(code, err, out, "--resume")
    code, _, err = run_cli(capsys, "train", "--resume", out, "--batch-size", "3")
    assert_one_line_error(code, err, "--batch-size")
    (tmp_path / "notrun").mkdir()
    for argv in (
        ["sample", tmp_path / "notrun", "--out", tmp_path / "s"],
        ["train", "--resume", tmp_path / "notrun"],
    ):
        code, _, err = run_cli(capsys, *argv)
        assert_one_line_error(code, err, tmp_path / "notrun", "not a ganforge run")
    assert digests(out) == before


def test_presets_and_info(capsys):
    code, out, _ = run_cli(capsys, "presets")
    assert code == 0 and {"dcgan-mnist", "dcgan-128", "dcgan"} <= {line.split()[0] for line in out.splitlines()}
    code, out, _ = run_cli(capsys, "info", "dcgan-mnist", "--json")
    info = json.loads(out)
    assert info["networks"]["generator"]["parameters_with_bn_stats"] == 2_330_944
    assert info["networks"]["discriminator"]["parameters_with_bn_stats"] == 212_865
    assert info["networks"]["generator"]["layers"][-1]["output_shape"] == [1, 28, 28]
    code, out, _ = run_cli(capsys, "info", "dcgan-mnist")
    assert "2,330,944" in out and "ConvTranspose2d" in out


def test_module_entry_point_runs():
    r = subprocess.run([sys.executable, "-m", "ganforge", "presets"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and "dcgan-128" in r.stdout


def test_sample_command_writes_files_and_grid(capsys, tmp_path, digits_run):
    code, _, _ = run_cli(
        capsys, "sample", digits_run, "--n", "10", "--out", tmp_path / "s", "--grid", tmp_path / "g.png"
    )
    assert code == 0
    files = sorted((tmp_path / "s").glob("*.png"))
    assert len(files) == 10
    img = np.asarray(Image.open(files[0]))
    assert img.shape == (28, 28) and img.std() > 10
    assert Image.open(tmp_path / "g.png").size[0] > 3 * 28
    code, _, err = run_cli(capsys, "sample", digits_run, "--n", "0", "--out", tmp_path / "s0")
    assert_one_line_error(code, err, "--n")
    before = digests(digits_run / "checkpoints")
    latest = digits_run / "checkpoints" / "latest.pt"
    code, _, err = run_cli(capsys, "sample", digits_run, "--n", "2", "--out", tmp_path / "s2", "--grid", latest)
    assert_one_line_error(code, err, "latest.pt")
    assert digests(digits_run / "checkpoints") == before and not (tmp_path / "s2").exists()
