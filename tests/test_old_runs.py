"""Run folders made before the house was rebuilt (issue 19) still load, give the same outputs, resume,
evaluate and report. The two tiny runs in tests/fixtures/runs_before_19 were trained with the ganforge of
commit 27712da (see its README); expected_outputs.pt holds what that code's `load` gave for them."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

import ganforge
from ganforge.cli import main

FIXTURES = Path(__file__).parent / "fixtures" / "runs_before_19"


@pytest.fixture
def old_runs(tmp_path) -> Path:
    """A copy of the saved runs (a resume writes into its run)."""
    shutil.copytree(FIXTURES, tmp_path / "runs")
    return tmp_path / "runs"


def test_an_old_noise_run_samples_the_same_images(old_runs):
    expected = torch.load(old_runs / "expected_outputs.pt")
    g = ganforge.load(old_runs / "digits", device="cpu")
    assert g.step == 10 and g.contract.weights == "g_ema"  # the run kept an EMA, and load runs it
    images = g.sample(4, seed=0)
    assert torch.allclose(images, expected["digits_sample_4_seed_0"], atol=1e-6)


def test_an_old_paired_run_translates_the_same_way(old_runs):
    expected = torch.load(old_runs / "expected_outputs.pt")
    g = ganforge.load(old_runs / "restore", device="cpu")
    out = g.translate(expected["restore_input"])
    assert torch.allclose(out, expected["restore_output"], atol=1e-6)


def test_old_runs_resume_evaluate_and_report(old_runs, capsys):
    assert main(["train", "--resume", str(old_runs / "digits"), "--steps", "12", "--quiet"]) == 0
    assert ganforge.load(old_runs / "digits", device="cpu").step == 12
    assert main(["report", str(old_runs / "restore")]) == 0
    assert (old_runs / "restore" / "report.html").stat().st_size > 10_000
    assert main(["health", str(old_runs / "digits"), "--json"]) == 0
    assert main(["evaluate", str(old_runs / "restore"), "--json"]) == 0
    assert (old_runs / "restore" / "eval_test.json").is_file()
