"""The run folder's whole life: two trainings on one folder, rollbacks, lines cut off by a kill, outputs that
would land inside a run, and what killed downloads leave in the cache."""

import json
import os
import shutil
import subprocess
import sys

import pytest
import torch

import ganforge
from ganforge.runs.checkpoint import load_checkpoint
from tests.conftest import tiny_overrides
from tests.test_cli import assert_one_line_error, run_cli

OVERRIDES = [*tiny_overrides(), "train.checkpoint_every=2", "health.diversity_samples=0"]
SETS = [x for o in OVERRIDES for x in ("--set", o)]
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def tiny_run(path, steps=4, **options):
    return ganforge.train("dcgan", data="digits", steps=steps, out=path, quiet=True, overrides=OVERRIDES, **options).dir


@pytest.fixture(scope="module")
def run8(tmp_path_factory):
    """An 8-step run with a checkpoint every 2 steps, copied by each test that changes it."""
    return tiny_run(tmp_path_factory.mktemp("run8") / "run", steps=8)


def copy_of(run, tmp_path):
    return shutil.copytree(run, tmp_path / "copy", ignore=shutil.ignore_patterns("train.lock"))


def weights(run):
    state = load_checkpoint(run / "checkpoints" / "latest.pt")
    return state["step"], state["g"]


def same_weights(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def metrics_steps(run):
    return [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()]


def test_two_trainings_started_on_one_new_folder_leave_one_whole_run(tmp_path):
    """Real concurrent processes on one --out, with different seeds and latent sizes: one trains, the other
    is refused in one line having written nothing, and the config fits the checkpoint (the refused one
    used to replace config.json before the lock refused it)."""
    out = tmp_path / "same"
    base = [sys.executable, "-m", "ganforge", "train", "dcgan", "--data", "digits", "--steps", "4", "--quiet", *SETS]
    jobs = [[*base, "--out", str(out), "--seed", str(seed), "--set", f"model.latent_dim={dim}"]
            for seed, dim in ((1, 16), (2, 24))]  # fmt: skip
    running = [subprocess.Popen(j, cwd=tmp_path, env=ENV, stderr=subprocess.PIPE, text=True) for j in jobs]
    ended = [(p.wait(timeout=300), p.stderr.read()) for p in running]
    assert sorted(code for code, _ in ended) == [0, 2], ended
    refusal = next(err for code, err in ended if code == 2)
    assert len(refusal.strip().splitlines()) == 1 and ("being trained" in refusal or "not empty" in refusal)
    saved = load_checkpoint(out / "checkpoints" / "latest.pt")
    assert json.loads((out / "config.json").read_text()) == saved["config"]
    assert ganforge.load(out, device="cpu").sample(2, seed=0).shape[0] == 2


def test_runs_started_in_the_same_second_get_folders_of_their_own(tmp_path):
    """Default names have one-second resolution: the second claim of runs/NAME (held by the first) gets
    runs/NAME-2 rather than sharing the folder."""
    from ganforge.runs.folder import NewRun

    first, second = NewRun(None, "dcgan-20261206-120000", tmp_path), NewRun(None, "dcgan-20261206-120000", tmp_path)
    with first as a, second as b:
        assert (a.name, b.name) == ("dcgan-20261206-120000", "dcgan-20261206-120000-2")
    empty = NewRun(None, "dcgan-20261206-120000", tmp_path)
    empty.__enter__()
    empty.abandon()  # a run that failed to start leaves no folder of its own
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dcgan-20261206-120000", "dcgan-20261206-120000-2"]


def test_a_run_that_fails_to_start_leaves_no_folder(capsys, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    code, _, err = run_cli(capsys, "train", "dcgan", "--data", empty, "--out", tmp_path / "r", "--steps", "2", *SETS)
    assert_one_line_error(code, err, "holds no images")
    assert not (tmp_path / "r").exists()


def test_resume_without_latest_goes_on_from_the_newest_step_checkpoint(capsys, run8, tmp_path):
    """latest.pt renamed away: the run resumed from step_0000006.pt (not from step 0), its metrics lines
    and earlier checkpoints kept, and it ends on the weights of a run that never stopped."""
    run = copy_of(run8, tmp_path)
    (run / "checkpoints" / "latest.pt").rename(tmp_path / "put-away.pt")
    (run / "checkpoints" / "step_0000008.pt").unlink()
    before = (run / "checkpoints" / "step_0000002.pt").read_bytes()
    code, _, err = run_cli(capsys, "train", "--resume", run, "--quiet")
    assert code == 0, err
    assert "resuming from step_0000006.pt" in (run / "log.txt").read_text()
    assert (run / "checkpoints" / "step_0000002.pt").read_bytes() == before
    assert metrics_steps(run) == [2, 4, 6, 8]
    step, g = weights(run)
    assert step == 8 and same_weights(g, weights(run8)[1])


def test_resume_with_checkpoint_rolls_back_and_keeps_what_came_after_aside(capsys, run8, tmp_path):
    run = copy_of(run8, tmp_path)
    code, _, err = run_cli(capsys, "train", "--resume", run, "--checkpoint", "step_4", "--steps", "6", "--quiet")
    assert code == 0, err
    aside = next((run / "rolled_back").iterdir())
    assert aside.name.startswith("step_0000004-")
    assert sorted(p.name for p in (aside / "checkpoints").iterdir()) == ["step_0000006.pt", "step_0000008.pt"]
    assert (aside / "checkpoints" / "step_0000008.pt").read_bytes() == (
        run8 / "checkpoints" / "step_0000008.pt"
    ).read_bytes()
    assert [json.loads(x)["step"] for x in (aside / "metrics.jsonl").read_text().splitlines()] == [6, 8]
    assert "rolled back to step 4" in (run / "log.txt").read_text()
    assert metrics_steps(run) == [2, 4, 6]
    reference = load_checkpoint(run8 / "checkpoints" / "step_0000006.pt")["g"]
    assert weights(run)[0] == 6 and same_weights(weights(run)[1], reference)
    code, _, err = run_cli(capsys, "train", "--resume", run, "--checkpoint", "step_99")
    assert_one_line_error(code, err, "--checkpoint step_99", "step_0000002")
    code, _, err = run_cli(capsys, "train", "dcgan", "--checkpoint", "step_4", "--out", tmp_path / "new")
    assert_one_line_error(code, err, "--checkpoint", "--resume")


def test_resume_to_a_total_below_the_runs_step_is_refused(capsys, run8, tmp_path):
    run = copy_of(run8, tmp_path)
    code, _, err = run_cli(capsys, "train", "--resume", run, "--steps", "4")
    assert_one_line_error(code, err, "the run is at step 8", "give more than 8")
    assert weights(run)[0] == 8


def test_a_metrics_line_cut_off_by_a_kill_is_dropped_not_glued(capsys, run8, tmp_path):
    """A kill while a line was written leaves a fragment at the end of metrics.jsonl: the resumed run drops
    it and writes whole lines after it (the fragment swallowed the next line before)."""
    run = copy_of(run8, tmp_path)
    for p in (run / "checkpoints").glob("step_000000[68].pt"):
        p.unlink()
    shutil.copy(run / "checkpoints" / "step_0000004.pt", run / "checkpoints" / "latest.pt")
    lines = (run / "metrics.jsonl").read_text().splitlines(keepends=True)
    (run / "metrics.jsonl").write_text("".join(lines[:2]) + lines[2][:30])  # killed in the middle of step 6's line
    code, _, err = run_cli(capsys, "train", "--resume", run, "--steps", "8", "--quiet")
    assert code == 0, err
    text = (run / "metrics.jsonl").read_text()
    assert [json.loads(line)["step"] for line in text.splitlines()] == [2, 4, 6, 8] and text.endswith("\n")


@pytest.mark.parametrize(
    "command",
    [
        ["sample", "{run}", "--out", "{tmp}/s", "--grid", "{run}/samples/step_0000004.png"],
        ["sample", "{run}", "--out", "{run}/samples"],
        ["evaluate", "{run}", "--out", "{run}/samples/step_0000004.png"],
        ["report", "{run}", "--out", "{run}/samples/report.html"],
        ["export", "{run}", "--out", "{run}/generator.onnx", "--format", "torchscript"],
    ],
)
def test_no_command_writes_into_a_run_folder_but_its_own_default(capsys, run8, tmp_path, command):
    argv = [a.format(run=run8, tmp=tmp_path) for a in command]
    before = {p: p.read_bytes() for p in run8.rglob("*") if p.is_file() and p.name != "train.lock"}
    code, _, err = run_cli(capsys, *argv)
    assert_one_line_error(code, err, "inside the run folder")
    assert {p: p.read_bytes() for p in run8.rglob("*") if p.is_file() and p.name != "train.lock"} == before


def test_evaluate_out_that_is_a_folder_is_refused_before_the_work(capsys, run8, tmp_path):
    run = copy_of(run8, tmp_path)
    (tmp_path / "results").mkdir()
    code, _, err = run_cli(capsys, "evaluate", run, "--out", tmp_path / "results", "--images", "20")
    assert_one_line_error(code, err, "is a folder")
    assert not (run / "features").exists()  # refused before the extractor was trained


def test_two_evaluations_of_one_run_at_once_both_succeed(run8, tmp_path):
    """Real concurrent processes train and save the run's own extractor at the same moment: unique temporary
    names, so neither trips over the other's file (both wrote features/own.tmp before)."""
    run = copy_of(run8, tmp_path)
    cmd = [sys.executable, "-m", "ganforge", "evaluate", str(run), "--images", "64", "--json"]
    running = [subprocess.Popen([*cmd, "--out", str(tmp_path / f"e{i}.json")], env=ENV, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True) for i in range(2)]  # fmt: skip
    ended = [(p.wait(timeout=300), p.stderr.read()) for p in running]
    assert [code for code, _ in ended] == [0, 0], ended
    first, second = (json.loads((tmp_path / f"e{i}.json").read_text()) for i in range(2))
    assert first["fid"] == second["fid"]  # the same network, whoever saved it
    assert [p.name for p in (run / "features").iterdir()] == ["own.pt"]


def test_a_killed_download_leaves_nothing_for_long(tmp_path):
    """What a download or an extraction killed with SIGKILL leaves in the cache (a .part file, a half
    extracted folder) is removed by the next download of that file."""
    from ganforge.data.download import fetch
    from ganforge.data.facades import download_facades

    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / ".data.bin.x1y2.part").write_bytes(b"half a download")
    (cache / ".facades-extract-abc").mkdir()
    (cache / ".facades-extract-abc" / "facades").mkdir()
    source = tmp_path / "data.bin"
    source.write_bytes(b"payload")
    assert fetch(source.as_uri(), "data.bin", cache=cache).read_bytes() == b"payload"
    assert not (cache / ".data.bin.x1y2.part").exists()
    with pytest.raises(ganforge.UserError):
        download_facades(cache=cache, base_url=(tmp_path / "nowhere").as_uri())
    assert not (cache / ".facades-extract-abc").exists()
