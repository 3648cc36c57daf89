"""The time budget (`--minutes`, train.max_minutes): a run stops cleanly at the first log step past it,
and a resume given more minutes goes on exactly as if it had never stopped."""

from __future__ import annotations

import pytest
import torch

import ganforge
from ganforge.errors import UserError
from ganforge.registry import HOOKS
from ganforge.train import stopping
from ganforge.train.hooks import Hook
from tests.conftest import tiny_overrides
from tests.test_cli import assert_one_line_error, run_cli

SETTINGS = [*tiny_overrides(), "train.log_every=4", "train.sample_every=100", "train.checkpoint_every=100"]


class StepClock(Hook):
    """The budget's clock reads one second per step taken: the stop is then known to the step."""

    def __init__(self, clock: list[float]):
        self.clock = clock

    def after_step(self, step: int, metrics: dict) -> None:
        self.clock[0] = float(step)


@pytest.fixture
def step_clock(monkeypatch):
    clock = [0.0]
    monkeypatch.setattr(stopping, "now", lambda: clock[0])
    HOOKS.register("test-step-clock", lambda trainer: StepClock(clock))
    yield clock
    HOOKS.unregister("test-step-clock")


def _weights(run_dir) -> dict[str, torch.Tensor]:
    state = torch.load(run_dir / "checkpoints" / "latest.pt", weights_only=True)
    return {f"{net}.{k}": v for net in ("g", "d") for k, v in state[net].items()}


def test_a_budget_stops_at_the_first_log_step_past_it_and_more_minutes_go_on_exactly(tmp_path, step_clock, capsys):
    out = tmp_path / "budget"
    run = ganforge.train("dcgan", data="digits", steps=48, minutes=0.5, out=out, quiet=True, overrides=SETTINGS)
    assert run.step == 32  # 30 s of training at step 30; the first log step past it is 32
    log = (out / "log.txt").read_text()
    assert "time budget reached: train.max_minutes=0.5 at step 32 of 48" in log
    assert torch.load(out / "checkpoints" / "latest.pt", weights_only=True)["step"] == 32
    assert (out / "samples" / "step_0000032.png").is_file()  # the last state's grid, as a finished run has

    with pytest.raises(UserError, match="spent its time budget"):  # no more minutes: refused, nothing changed
        ganforge.train(resume=out, quiet=True)
    code, _, err = run_cli(capsys, "train", "--resume", out, "--quiet")
    assert_one_line_error(code, err, "time budget", "--minutes")

    resumed = ganforge.train(resume=out, minutes=1, quiet=True)
    assert resumed.step == 48
    whole = ganforge.train("dcgan", data="digits", steps=48, out=tmp_path / "whole", quiet=True, overrides=SETTINGS)
    assert whole.step == 48
    a, b = _weights(out), _weights(tmp_path / "whole")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    state = torch.load(out / "checkpoints" / "latest.pt", weights_only=True)
    assert state["clock"]["seconds"] == pytest.approx(48.0)  # the minutes add up over the resume


def test_the_budget_is_a_flag_and_a_key_with_a_rule(tmp_path, capsys):
    cfg = ganforge.resolve_config("dcgan-mnist", minutes=2.5)
    assert cfg.train.max_minutes == 2.5
    code, _, err = run_cli(capsys, "train", "dcgan-mnist", "--minutes", "-1", "--out", tmp_path / "r")
    assert_one_line_error(code, err, "train.max_minutes", "--minutes")
    assert not (tmp_path / "r").exists()
