"""What must be bounded is: images too large for a run's size, outputs of any number, seeds, the API's
arguments, and a step that would run for an hour after a stop was asked for."""

import os
import signal
import subprocess
import sys
import time

import pytest
import torch
from PIL import Image

import ganforge
from ganforge.data.folder import ImageFolder
from tests.catalogue.bad_inputs import png_claiming
from tests.conftest import tiny_overrides
from tests.test_cli import assert_one_line_error, run_cli
from tests.train.test_loop import write_folder

BOMB = png_claiming(12_000, 12_000)  # under Pillow's own limit (179 Mpix), over a run's (64 Mpix)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("bounds") / "run"
    return ganforge.train("dcgan", data="digits", steps=2, out=out, quiet=True, overrides=tiny_overrides()).dir


@pytest.fixture(scope="module")
def pairs_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("pairs")
    over = ["model.width=8", "train.batch_size=4", "train.log_every=1", "train.grid_size=2"]
    return ganforge.train("pix2pix", data="shapes", image_size=32, steps=1, out=root / "run", quiet=True,
                          overrides=over).dir  # fmt: skip


def test_an_image_over_the_runs_pixel_limit_is_screened_under_both_policies(capsys, tmp_path):
    folder = write_folder(tmp_path / "photos", n=12, size=20)
    (folder / "bomb.png").write_bytes(BOMB)
    data = ImageFolder(folder, 32, 3, bad_images="skip")
    assert "bomb.png" not in {p.name for p in data.paths}
    assert "12000x12000" in data.notes()[0] and "data.max_pixels" in data.notes()[0]
    code, _, err = run_cli(capsys, "train", "dcgan", "--data", folder, "--image-size", "32", "--steps", "1",
                           "--set", "data.bad_images=strict", "--out", tmp_path / "r")  # fmt: skip
    assert_one_line_error(code, err, "bomb.png", "12000x12000", "data.max_pixels")
    assert len(ImageFolder(folder, 32, 3, bad_images="skip", max_pixels=2 * 12_000**2).paths) == 13  # raised


def test_translate_refuses_an_input_over_the_limit_before_decoding_it(capsys, pairs_run, tmp_path):
    inputs = tmp_path / "in"
    inputs.mkdir()
    Image.new("RGB", (32, 32)).save(inputs / "fine.png")
    (inputs / "bomb.png").write_bytes(BOMB)
    for fit in ("resize", "pad"):
        code, _, err = run_cli(capsys, "translate", pairs_run, "--input", inputs, "--output", tmp_path / "out",
                               "--fit", fit)  # fmt: skip
        assert_one_line_error(code, err, "bomb.png", "megapixels")
    assert not (tmp_path / "out").exists()


def test_samples_stream_in_batches_and_any_count_is_checked_first(capsys, run, tmp_path):
    g = ganforge.load(run, device="cpu")
    batches = list(g.batches(600, seed=3))
    assert [len(b) for b in batches] == [256, 256, 88]
    assert torch.equal(torch.cat(batches)[:10], g.sample(10, seed=3))  # image i does not depend on n
    code, _, err = run_cli(capsys, "sample", run, "--n", str(10**12), "--out", tmp_path / "s")
    assert_one_line_error(code, err, "needs about", "MB are free")
    code, _, err = run_cli(capsys, "sample", run, "--n", "2000", "--out", tmp_path / "s", "--grid", tmp_path / "g.png")
    assert_one_line_error(code, err, "--grid shows 1024 images at most")
    assert not (tmp_path / "s").exists()
    code, _, err = run_cli(capsys, "sample", run, "--n", "300", "--out", tmp_path / "s", "--seed", "3")
    assert code == 0, err
    assert len(list((tmp_path / "s").iterdir())) == 300


def test_evaluation_and_export_sizes_are_bounded_up_front(capsys, run, tmp_path):
    code, _, err = run_cli(capsys, "evaluate", run, "--images", str(10**9))
    assert_one_line_error(code, err, "--images", "50,000")
    onnx = pytest.importorskip("onnx")
    code, _, err = run_cli(capsys, "export", run, "--out", tmp_path / "g.onnx", "--batch", str(10**9))
    assert code == 0, err  # traced on one input: memory does not grow with the batch
    model = onnx.load(tmp_path / "g.onnx")
    assert model.graph.input[0].type.tensor_type.shape.dim[0].dim_value == 10**9


@pytest.mark.parametrize("seed", ["-1", str(2**32), str(2**64)])
def test_a_seed_outside_its_range_is_refused_at_the_start(capsys, run, tmp_path, seed):
    code, _, err = run_cli(capsys, "train", "dcgan", "--seed", seed, "--out", tmp_path / "r")
    assert_one_line_error(code, err, "train.seed", "--seed")
    code, _, err = run_cli(capsys, "sample", run, "--out", tmp_path / "s", "--seed", seed)
    assert_one_line_error(code, err, "--seed", "0 to 4294967295")
    config = tmp_path / "c.json"
    config.write_text(f'{{"preset": "dcgan", "train": {{"seed": {seed}}}}}')
    code, _, err = run_cli(capsys, "train", config, "--out", tmp_path / "r")
    assert_one_line_error(code, err, "train.seed", "c.json")
    with pytest.raises(ganforge.UserError, match="train.seed"):
        ganforge.train("dcgan", seed=int(seed), out=tmp_path / "r")
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize(
    "call, needle",
    [
        (lambda g: g.sample(-1), "n must be"),
        (lambda g: g.sample(2.5), "n must be"),
        (lambda g: g.sample(2, seed="x"), "seed must be"),
        (lambda g: g.sample(2, seed=-3), "seed must be"),
        (lambda g: g.sample(2, batch_size=0), "batch_size must be"),
        (lambda g: g.translate(torch.zeros(1, 3, 8, 8)), "generates from noise"),
    ],
)
def test_the_api_checks_its_arguments_as_the_cli_does(run, call, needle):
    g = ganforge.load(run, device="cpu")
    with pytest.raises(ganforge.UserError, match=needle):
        call(g)


@pytest.mark.parametrize(
    "images, needle",
    [("text", "takes a tensor"), (torch.zeros(3, 8, 8), "takes a tensor"), (torch.zeros(1, 1, 8, 8), "(N, 3, H, W)"),
     (torch.zeros(1, 3, 8, 8, dtype=torch.uint8), "floating-point")],
)  # fmt: skip
def test_translate_checks_its_images(pairs_run, images, needle):
    g = ganforge.load(pairs_run, device="cpu")
    with pytest.raises(ganforge.UserError, match=needle.replace("(", r"\(").replace(")", r"\)")):
        g.translate(images)


def test_a_step_that_would_not_end_stops_between_its_phases(tmp_path):
    """A slow step (100 D steps on large batches, minutes here) asked twice to stop: it used to finish the
    step first however long it took (a second Ctrl-C raised wherever it landed). Now the step ends at its
    next phase boundary: the run exits at once, says nothing was saved since its last checkpoint, and that
    checkpoint is whole. (A single request waits STOP_GRACE seconds first: the next test.)"""
    out = tmp_path / "slow"
    sets = [x for o in ["model.width=16", "train.d_steps=100", "train.batch_size=512"] for x in ("--set", o)]
    cmd = [sys.executable, "-m", "ganforge", "train", "dcgan", "--image-size", "64", "--steps", "50", "--quiet",
           "--out", str(out), *sets]  # fmt: skip
    process = subprocess.Popen(cmd, env={**os.environ, "OMP_NUM_THREADS": "1"}, stderr=subprocess.PIPE, text=True)
    latest = out / "checkpoints" / "latest.pt"
    while not latest.exists() and process.poll() is None:
        time.sleep(0.05)
    time.sleep(1.0)
    asked = time.monotonic()
    process.send_signal(signal.SIGTERM)
    time.sleep(0.5)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=120)
    waited = time.monotonic() - asked
    assert process.returncode == 130 and "between its phases" in err and "resume with" in err, err
    assert waited < 20, waited  # one D step and the teardown; the whole step takes minutes here
    assert torch.load(latest, weights_only=True)["step"] == 0


def test_one_stop_request_waits_the_grace_then_ends_the_step(monkeypatch):
    """The first request lets a step finish that ends within STOP_GRACE seconds; after that it ends the
    step at a phase boundary; a third request interrupts at once."""
    from ganforge.train import stopping

    flag = stopping.InterruptFlag()
    clock = [100.0]
    monkeypatch.setattr(stopping, "now", lambda: clock[0])
    flag.check_abandon()  # no request: nothing happens
    flag._handler(signal.SIGTERM, None)
    clock[0] += flag.STOP_GRACE - 1
    flag.check_abandon()  # within the grace the step goes on
    clock[0] += 2
    with pytest.raises(stopping.StepAbandoned):
        flag.check_abandon()
    one_process_only = stopping.InterruptFlag(abandon=False)
    one_process_only._handler(signal.SIGINT, None)
    clock[0] += 60
    one_process_only.check_abandon()  # several processes finish the step together
    flag._handler(signal.SIGINT, None)
    with pytest.raises(KeyboardInterrupt):
        flag._handler(signal.SIGINT, None)


def test_counts_that_must_be_bounded_are(capsys, tmp_path):
    for setting, needle in (("train.d_steps=100000", "in [0, 100]"), ("train.batch_size=10000000", "at most 65536")):
        code, _, err = run_cli(capsys, "train", "dcgan", "--set", setting, "--out", tmp_path / "r")
        assert_one_line_error(code, err, setting.split("=")[0], needle)
