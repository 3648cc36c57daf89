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
from ganforge.runs.checkpoint import load_checkpoint
from ganforge.runs.folder import RunLock
from ganforge.train.monitor import MACHINE_KEYS
from tests.conftest import tiny_overrides
from tests.test_cli import assert_one_line_error, run_cli

OVERRIDES = [*tiny_overrides(), "train.checkpoint_every=2"]


def tiny_run(path, steps=4):
    return ganforge.train("dcgan", data="digits", steps=steps, out=path, quiet=True, overrides=OVERRIDES)


def digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


DISK_FILLS = """
import resource, sys
import ganforge
from ganforge.train.hooks import HOOKS, Hook

out, limit, first, last, *overrides = sys.argv[1:]
hard = resource.getrlimit(resource.RLIMIT_FSIZE)[1]


class DiskFills(Hook):
    # From step `first` to step `last` no file may grow past `limit` bytes: the kernel refuses the writes
    # (EFBIG; Python ignores SIGXFSZ), as a full disk would.
    def __init__(self, trainer):
        pass

    def after_step(self, step, metrics):
        if step == int(first):
            resource.setrlimit(resource.RLIMIT_FSIZE, (int(limit), hard))
        if step == int(last) and int(first) >= 0:
            resource.setrlimit(resource.RLIMIT_FSIZE, (hard, hard))


HOOKS.register("disk-fills", DiskFills)
ganforge.train("dcgan", data="digits", steps=20, out=out, quiet=True, overrides=overrides)
"""


def test_a_disk_that_fills_and_frees_again_loses_nothing(tmp_path):
    """Real failing writes (a file-size limit from step 5 to 13): the checkpoints, sample grids, loss plot
    and metrics lines of those steps cannot be written. Training goes on; no file is left half-written and
    no temporary file stays; the metrics lines wait in memory and are written once the disk frees; the
    run ends on the weights and the metrics of a run that never met a full disk."""
    over = [*OVERRIDES, "train.checkpoint_every=4"]
    script = tmp_path / "disk_fills.py"
    script.write_text(DISK_FILLS)
    full, calm = tmp_path / "full", tmp_path / "calm"
    for out, first in ((full, "5"), (calm, "-1")):  # the calm run never meets the limit
        done = subprocess.run([sys.executable, str(script), str(out), "1024", first, "13", *over], capture_output=True,
                              text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})  # fmt: skip
        assert done.returncode == 0, done.stderr[-2000:]
    log = (full / "log.txt").read_text()
    assert "could not write" in log and "checkpoints/latest.pt" in log and "the previous checkpoint is kept" in log
    kept = sorted(p.name for p in (full / "checkpoints").iterdir())
    assert kept == ["latest.pt", "step_0000004.pt", "step_0000016.pt", "step_0000020.pt"]  # 8 and 12 failed
    assert not (full / "samples" / "step_0000008.png").exists() and (full / "samples" / "step_0000016.png").exists()
    assert not [p for p in full.rglob("*") if p.name.endswith(".tmp")]

    def lines(run):
        rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
        return [{k: v for k, v in r.items() if k not in MACHINE_KEYS} for r in rows]

    assert lines(full) == lines(calm) and [r["step"] for r in lines(full)] == list(range(2, 21, 2))
    a, b = (load_checkpoint(run / "checkpoints" / "latest.pt") for run in (full, calm))
    assert all(torch.equal(a["g"][k], b["g"][k]) for k in a["g"])


def test_a_resume_on_a_full_disk_leaves_the_run_as_it_was(tmp_path):
    """--resume where no file may grow past 1 KiB (a real limit, set on the process): config.json, which
    every resume rewrites, was cut to 1,024 bytes and the run refused by health, report and resume. Now the
    resume fails in one line, config.json stays whole, and the run resumes once there is room."""
    import resource

    run = tiny_run(tmp_path / "run", steps=4)
    before = (run.dir / "config.json").read_bytes()

    def limited():
        resource.setrlimit(resource.RLIMIT_FSIZE, (1024, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))

    cmd = [sys.executable, "-m", "ganforge", "train", "--resume", str(run.dir), "--steps", "8", "--quiet"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, preexec_fn=limited)
    assert done.returncode == 2 and done.stderr.startswith("ganforge: error: cannot write"), done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert (run.dir / "config.json").read_bytes() == before
    assert not [p for p in run.dir.rglob("*") if p.name.endswith(".tmp")]
    assert ganforge.train(resume=run.dir, steps=8, quiet=True).step == 8  # once there is room


def test_resume_checks_the_free_space_as_a_new_run_does(capsys, tmp_path, monkeypatch):
    import shutil

    from ganforge.runs import outputs

    run = tiny_run(tmp_path / "run", steps=2)
    monkeypatch.setattr(outputs, "MIN_FREE_BYTES", shutil.disk_usage(tmp_path).free + 2**40)  # the disk's real figure
    code, _, err = run_cli(capsys, "train", "--resume", run.dir, "--steps", "4")
    assert_one_line_error(code, err, "MB free", "free some space")
    assert load_checkpoint(run.dir / "checkpoints" / "latest.pt")["step"] == 2


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


def test_an_empty_latest_checkpoint_resumes_from_the_newest_whole_one(capsys, tmp_path):
    """latest.pt emptied: the run goes on from the newest step_*.pt that reads, and says so; with no
    other checkpoint, the refusal is one line."""
    run = tiny_run(tmp_path / "run", steps=4)
    (run.dir / "checkpoints" / "latest.pt").write_bytes(b"")
    code, _, err = run_cli(capsys, "train", "--resume", run.dir, "--steps", "6", "--quiet")
    assert code == 0, err
    assert "resuming from step_0000004.pt" in (run.dir / "log.txt").read_text()
    assert load_checkpoint(run.dir / "checkpoints" / "latest.pt")["step"] == 6
    for p in (run.dir / "checkpoints").glob("step_*"):
        p.unlink()
    (run.dir / "checkpoints" / "latest.pt").write_bytes(b"")
    code, _, err = run_cli(capsys, "train", "--resume", run.dir, "--steps", "8")
    assert_one_line_error(code, err, "is empty (0 bytes)")


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
