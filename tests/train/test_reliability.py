"""Runs survive faults: a kill at any moment, a full disk during a checkpoint, a second process on the same
run, an empty or malicious checkpoint, an output path that cannot be a run folder."""

import hashlib
import json
import os
import pathlib
import random
import signal
import subprocess
import sys
import time

import pytest
import torch

import ganforge
from ganforge.train.checkpoint import RunLock, load_checkpoint
from tests.conftest import tiny_overrides
from tests.test_cli import assert_one_line_error, run_cli

OVERRIDES = [*tiny_overrides(), "train.checkpoint_every=2"]


def tiny_run(path, steps=4):
    return ganforge.train("dcgan", data="digits", steps=steps, out=path, quiet=True, overrides=OVERRIDES)


def digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_failed_checkpoint_write_keeps_the_previous_one(tmp_path, monkeypatch):
    """The disk fills up while the last checkpoint is written: the one before stays whole, no temporary
    file is left, the log says so, and the run still ends."""
    real_save, calls = torch.save, []

    def failing_save(obj, f, *args, **kwargs):
        calls.append(obj.get("step") if isinstance(obj, dict) else None)
        if calls[-1] == 4:
            f.write(b"half a checkpoint")
            raise OSError(28, "No space left on device")
        return real_save(obj, f, *args, **kwargs)

    monkeypatch.setattr(torch, "save", failing_save)
    run = tiny_run(tmp_path / "full")
    assert load_checkpoint(run.dir / "checkpoints" / "latest.pt")["step"] == 2
    assert not list((run.dir / "checkpoints").glob("*.tmp"))
    assert (
        "could not write" in (run.dir / "log.txt").read_text()
        and "previous checkpoint is kept" in (run.dir / "log.txt").read_text()
    )


def test_a_second_process_on_a_run_is_refused(capsys, tmp_path):
    run = tiny_run(tmp_path / "run", steps=2)
    with RunLock(run.dir):
        code, _, err = run_cli(capsys, "train", "--resume", run.dir, "--steps", "4")
    assert_one_line_error(code, err, "is being trained by process", "train.lock")
    assert load_checkpoint(run.dir / "checkpoints" / "latest.pt")["step"] == 2
    with RunLock(run.dir):  # released by the refused process and by the finished one
        pass


def test_a_malicious_checkpoint_is_refused_and_its_payload_never_runs(capsys, tmp_path):
    run = tiny_run(tmp_path / "run", steps=2)
    marker = tmp_path / "payload-ran"

    class Payload:
        def __reduce__(self):
            return (pathlib.Path.touch, (marker,))

    torch.save({"step": 2, "g": Payload()}, run.dir / "checkpoints" / "latest.pt")
    config = digest(run.dir / "config.json")
    code, _, err = run_cli(capsys, "train", "--resume", run.dir, "--steps", "4")
    assert_one_line_error(code, err, "can run code")
    assert "weights_only=False" not in err and not marker.exists()
    assert digest(run.dir / "config.json") == config  # a refused resume changes nothing


def test_an_empty_checkpoint_is_refused_in_one_line(capsys, tmp_path):
    run = tiny_run(tmp_path / "run", steps=2)
    (run.dir / "checkpoints" / "latest.pt").write_bytes(b"")
    code, _, err = run_cli(capsys, "train", "--resume", run.dir, "--steps", "4")
    assert_one_line_error(code, err, "is empty (0 bytes)", "step_")


def test_an_output_path_that_is_a_file_is_refused_before_training(capsys, tmp_path):
    target = tmp_path / "notes.txt"
    target.write_text("mine")
    code, _, err = run_cli(capsys, "train", "dcgan-mnist", "--data", "digits", "--steps", "2", "--out", target)
    assert_one_line_error(code, err, "is a file")
    assert target.read_text() == "mine"


def test_a_run_killed_at_a_random_moment_resumes_to_the_uninterrupted_weights(tmp_path):
    """SIGKILL at a random moment after the first checkpoint (during a step, a sample grid or a checkpoint
    write), then --resume: the final weights equal an uninterrupted run's, bit for bit."""
    steps = 60
    sets = [x for o in OVERRIDES for x in ("--set", o)]
    cmd = [sys.executable, "-m", "ganforge", "train", "dcgan", "--data", "digits", "--steps", str(steps), "--quiet"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    whole = tmp_path / "whole"
    subprocess.run([*cmd, "--out", str(whole), *sets], check=True, env=env, capture_output=True, timeout=300)
    killed = tmp_path / "killed"
    process = subprocess.Popen([*cmd, "--out", str(killed), *sets], env=env, stderr=subprocess.DEVNULL)
    latest = killed / "checkpoints" / "latest.pt"
    while not latest.exists() and process.poll() is None:
        time.sleep(0.01)
    time.sleep(random.Random(os.getpid()).uniform(0.0, 1.0))
    process.send_signal(signal.SIGKILL)
    assert process.wait() == -signal.SIGKILL  # killed before it finished
    done = subprocess.run([sys.executable, "-m", "ganforge", "train", "--resume", str(killed), "--quiet"], env=env,
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr
    a, b = (load_checkpoint(run / "checkpoints" / "latest.pt") for run in (whole, killed))
    assert a["step"] == b["step"] == steps
    for net in ("g", "d"):
        assert all(torch.equal(a[net][k], b[net][k]) for k in a[net])


@pytest.mark.skipif(not hasattr(signal, "SIGINT"), reason="POSIX signals")
def test_an_interrupted_run_leaves_whole_files(tmp_path):
    """SIGINT: the run stops after the step, saves, and its checkpoint and metrics.jsonl are whole."""
    sets = [x for o in [*OVERRIDES, "train.log_every=1"] for x in ("--set", o)]
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "ganforge", "train", "dcgan", "--data", "digits", "--steps", "100000", "--quiet"]
    process = subprocess.Popen([*cmd, "--out", str(out), *sets], env={**os.environ, "OMP_NUM_THREADS": "1"},
                               stderr=subprocess.PIPE, text=True)  # fmt: skip
    while not (out / "metrics.jsonl").exists() and process.poll() is None:
        time.sleep(0.01)
    time.sleep(0.5)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=120)
    assert process.returncode != 0 and "resume with" in err
    state = load_checkpoint(out / "checkpoints" / "latest.pt")
    steps = [json.loads(line)["step"] for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert steps == list(range(1, len(steps) + 1)) and steps[-1] == state["step"]


def test_a_run_stopped_before_its_first_checkpoint_resumes_from_step_0(capsys, tmp_path):
    """Killed while starting: config.json and a log but no checkpoint. --resume trains it from the start."""
    run = tiny_run(tmp_path / "run", steps=2)
    for f in (run.dir / "checkpoints").iterdir():
        f.unlink()
    (run.dir / "metrics.jsonl").unlink()
    code, _, err = run_cli(capsys, "train", "--resume", run.dir, "--steps", "2", "--quiet")
    assert code == 0, err
    assert load_checkpoint(run.dir / "checkpoints" / "latest.pt")["step"] == 2
    assert "never saved a checkpoint" in (run.dir / "log.txt").read_text()
    assert [json.loads(x)["step"] for x in (run.dir / "metrics.jsonl").read_text().splitlines()] == [2]


def test_a_run_on_a_relative_folder_resumes_from_elsewhere(capsys, tmp_path, monkeypatch):
    from tests.train.test_loop import write_folder

    write_folder(tmp_path / "work" / "faces", n=16, size=32)
    monkeypatch.chdir(tmp_path / "work")
    run = ganforge.train("dcgan", data="faces", steps=2, out=tmp_path / "run", quiet=True, overrides=OVERRIDES)
    assert run.config.data.name == str(tmp_path / "work" / "faces")
    monkeypatch.chdir(tmp_path)
    code, _, err = run_cli(capsys, "train", "--resume", tmp_path / "run", "--steps", "4", "--quiet")
    assert code == 0, err
