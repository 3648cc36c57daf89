"""Run folders edited by hand, damaged elsewhere or crafted: every command reads them without a traceback,
and a report, a page meant to be shared, shows nothing from outside its run."""

import json
import shutil

import pytest
import torch

import ganforge
from tests.conftest import tiny_overrides
from tests.test_cli import assert_one_line_error, run_cli

OVERRIDES = [*tiny_overrides(), "train.checkpoint_every=2"]


@pytest.fixture(scope="module")
def run4(tmp_path_factory):
    out = tmp_path_factory.mktemp("crafted") / "run"
    return ganforge.train("dcgan", data="digits", steps=4, out=out, quiet=True, overrides=OVERRIDES).dir


@pytest.fixture
def run(run4, tmp_path):
    return shutil.copytree(run4, tmp_path / "run", ignore=shutil.ignore_patterns("train.lock"))


def commands_all_work(capsys, run, tmp_path, *, resume=True):
    """health, report and evaluate end well; so does --resume, where asked."""
    for argv in (["health", run], ["health", run, "--json"], ["report", run, "--out", tmp_path / "r.html"]):
        code, _, err = run_cli(capsys, *argv)
        assert code == 0 and "Traceback" not in err, err
    if resume:
        code, _, err = run_cli(capsys, "train", "--resume", run, "--steps", "6", "--quiet")
        assert code == 0, err
    return (tmp_path / "r.html").read_text()


def test_the_report_shows_nothing_a_link_brings_from_outside_the_run(capsys, run, tmp_path):
    secret = tmp_path / "token.txt"
    secret.write_text("TOKEN-5f3a9c")
    outside_png = tmp_path / "private.png"
    shutil.copy(run / "samples" / "step_0000004.png", outside_png)
    (run / "command.txt").unlink()
    (run / "command.txt").symlink_to(secret)
    (run / "log.txt").unlink()
    (run / "log.txt").symlink_to(secret)
    (run / "eval_own.json").symlink_to(secret)
    (run / "samples" / "step_0000099.png").symlink_to(outside_png)
    page = commands_all_work(capsys, run, tmp_path, resume=False)
    assert "TOKEN-5f3a9c" not in page
    assert "samples at step 99" not in page and "samples at step 4" in page
    (run / "config.json").rename(tmp_path / "config.json")
    (run / "config.json").symlink_to(tmp_path / "config.json")
    code, _, err = run_cli(capsys, "report", run, "--out", tmp_path / "r2.html")
    assert_one_line_error(code, err, "config.json is a link that leads out of the run")


def test_crafted_metrics_and_events_are_read_without_a_traceback(capsys, run, tmp_path):
    """A metrics key and an event kind that matplotlib would read as mathtext, a line without step, a
    line that is not an object, a value that is not a number, invalid UTF-8, JSON nested too deeply."""
    deep = "[" * 100_000 + "]" * 100_000
    with (run / "metrics.jsonl").open("a") as f:
        f.write(json.dumps({"step": 3, "g_$\\x$": 1.0, "eval_$\\frac$": 2.0, "d_loss": "high"}) + "\n")
        f.write(json.dumps({"d_loss": 0.5}) + "\n[1, 2]\n" + deep + "\n")
    with (run / "events.jsonl").open("ab") as f:
        f.write(json.dumps({"step": 2, "kind": "$\\x$", "message": "m", "advice": "a"}).encode() + b"\n")
        f.write(b'[1]\n"text"\n{"kind": ["not", "hashable"]}\n\xff\xfe{"step": 1}\n')
    (run / "eval_own.json").write_text(deep)
    commands_all_work(capsys, run, tmp_path)


def test_a_run_whose_metrics_were_deleted_is_not_called_new(capsys, run):
    (run / "metrics.jsonl").unlink()
    code, out, _ = run_cli(capsys, "health", run)
    assert code == 0 and "latest checkpoint is at step 4" in out and "has not logged a line" not in out


@pytest.mark.parametrize(
    "change, needle",
    [
        (lambda s: s | {"g": [1, 2, 3]}, "does not fit"),
        (lambda s: s | {"g": {"net.0.weight": "text"}}, "does not fit"),
        (lambda s: [s["step"]], "holds list"),
        (lambda s: s | {"step": "four"}, "holds no step count"),
    ],
)
def test_a_crafted_checkpoint_is_one_line(capsys, run, tmp_path, change, needle):
    path = run / "checkpoints" / "latest.pt"
    torch.save(change(torch.load(path, weights_only=True)), path)
    for p in (run / "checkpoints").glob("step_*"):
        p.unlink()
    for argv in (["train", "--resume", run, "--steps", "6"], ["sample", run, "--out", tmp_path / "s"]):
        code, _, err = run_cli(capsys, *argv)
        assert_one_line_error(code, err, needle)


def test_a_feature_file_that_is_not_the_extractor_is_one_line(capsys, run):
    from ganforge.config import load_config
    from ganforge.metrics.generated import data_key

    key = data_key(load_config(run / "config.json"), "images")
    (run / "features").mkdir()
    for payload in ([1, 2], {"data": key, "channels": "three", "weights": []}):
        torch.save(payload, run / "features" / "own.pt")
        code, _, err = run_cli(capsys, "evaluate", run, "--images", "20")
        assert_one_line_error(code, err, "own.pt", "delete it")


def test_a_deeply_nested_config_file_is_one_line(capsys, tmp_path):
    config = tmp_path / "deep.json"
    config.write_text('{"train": ' * 100_000 + "1" + "}" * 100_000)
    code, _, err = run_cli(capsys, "train", config, "--out", tmp_path / "r")
    assert_one_line_error(code, err, "deep.json", "nested too deeply")
