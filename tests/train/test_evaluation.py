"""Evaluation during training (--eval-every) and the TensorBoard logger, on tiny runs."""

import json

import numpy as np
import pytest
import torch

import ganforge
from ganforge.runs.checkpoint import load_checkpoint
from ganforge.train.monitor import MACHINE_KEYS
from tests.conftest import tiny_overrides
from tests.test_cli import assert_one_line_error, run_cli

EVAL = ["eval.every=4", "eval.images=64"]


@pytest.fixture(autouse=True, scope="module")
def _quick_own_extractor():
    """What these tests check does not depend on how well the own extractor is trained."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("ganforge.metrics.features.OWN_STEPS", 40)
        yield


def train(tmp_path, name, steps=8, extra=()):
    return ganforge.train(
        "dcgan", data="digits", steps=steps, out=tmp_path / name, quiet=True, overrides=[*tiny_overrides(), *extra]
    )


@pytest.fixture(scope="module")
def eval_run(tmp_path_factory):
    return train(tmp_path_factory.mktemp("eval"), "run", extra=EVAL)


def test_metrics_are_logged_beside_the_losses_and_the_best_is_kept(eval_run):
    rows = {r["step"]: r for r in eval_run.metrics()}
    for step in (4, 8):
        assert {"eval_fid", "eval_kid", "eval_precision", "eval_recall", "eval_density", "eval_coverage"} <= set(
            rows[step]
        )
        assert "d_loss" in rows[step]
    assert "eval_fid" not in rows[2]
    best_step = min((4, 8), key=lambda s: rows[s]["eval_fid"])
    best = load_checkpoint(eval_run.dir / "checkpoints" / "best.pt")
    assert best["step"] == best_step and best["evaluation"]["best"] == pytest.approx(rows[best_step]["eval_fid"])
    g = ganforge.load(eval_run.dir, device="cpu", checkpoint="best")
    assert g.step == best_step
    assert "best fid so far" in (eval_run.dir / "log.txt").read_text()


def test_evaluation_does_not_change_the_training(tmp_path, eval_run):
    plain = train(tmp_path, "plain")
    a = load_checkpoint(eval_run.dir / "checkpoints" / "latest.pt")["g"]
    b = load_checkpoint(plain.dir / "checkpoints" / "latest.pt")["g"]
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_best_metric_must_be_one_the_task_measures(capsys, tmp_path):
    argv = ["train", "dcgan", "--data", "digits", "--steps", "2", "--eval-every", "2", "--best-metric", "psnr"]
    code, _, err = run_cli(capsys, *argv, "--out", tmp_path / "r", *[x for o in tiny_overrides() for x in ("--set", o)])
    assert_one_line_error(code, err, "eval.best_metric", "fid")
    assert not (tmp_path / "r").exists()


def test_a_higher_is_better_metric_and_the_command_are_recorded(capsys, tmp_path):
    sets = [x for o in [*tiny_overrides(), "eval.images=64"] for x in ("--set", o)]
    argv = ["train", "dcgan", "--data", "digits", "--steps", "4", "--eval-every", "2", "--best-metric", "coverage"]
    code, _, err = run_cli(capsys, *argv, "--out", tmp_path / "r", "--quiet", *sets)
    assert code == 0, err
    rows = [json.loads(line) for line in (tmp_path / "r" / "metrics.jsonl").read_text().splitlines()]
    scored = [r for r in rows if "eval_coverage" in r]
    best = max(scored, key=lambda r: (r["eval_coverage"], -r["step"]))
    assert load_checkpoint(tmp_path / "r" / "checkpoints" / "best.pt")["step"] == best["step"]
    assert (tmp_path / "r" / "command.txt").read_text().startswith("ganforge train dcgan --data digits --steps 4")


def test_tensorboard_logger_writes_scalars_images_and_events(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run = train(tmp_path, "tb", extra=["train.logger=tensorboard", *EVAL])
    (event_file,) = (run.dir / "tensorboard").iterdir()
    acc = EventAccumulator(str(event_file), size_guidance={"images": 0, "scalars": 0}).Reload()
    rows = run.metrics()
    d_loss = acc.Scalars("loss/d_loss")
    assert [e.step for e in d_loss] == [r["step"] for r in rows]
    assert np.allclose([e.value for e in d_loss], [r["d_loss"] for r in rows], rtol=1e-5)
    assert [e.step for e in acc.Scalars("eval/fid")] == [4, 8]
    assert [e.step for e in acc.Images("samples")] == [4, 8]
    assert "gradients/grad_norm_G" in acc.Tags()["scalars"]


def test_image_to_image_runs_are_scored_on_the_val_split(tmp_path):
    """unet-restore with --eval-every: PSNR, SSIM, L1 and FID of the outputs on the val split, best.pt by PSNR."""
    from tests.train.test_restore import TINY

    run = ganforge.train(
        "unet-restore",
        steps=4,
        out=tmp_path / "r",
        quiet=True,
        overrides=[*TINY, "eval.every=2", "eval.images=16", "eval.best_metric=psnr"],
    )
    rows = [r for r in run.metrics() if "eval_psnr" in r]
    assert [r["step"] for r in rows] == [2, 4]
    assert all({"eval_l1", "eval_ssim", "eval_fid"} <= set(r) for r in rows)
    best = max(rows, key=lambda r: (r["eval_psnr"], -r["step"]))
    assert load_checkpoint(run.dir / "checkpoints" / "best.pt")["step"] == best["step"]
    assert "on val" in (run.dir / "log.txt").read_text()


def test_a_resumed_run_with_evaluation_is_bit_exact(tmp_path, eval_run):
    """Stopped at step 4 (an evaluation step) and resumed to 8: the same weights, metrics lines and best."""
    train(tmp_path, "part", steps=4, extra=EVAL)
    resumed = ganforge.train(resume=tmp_path / "part", steps=8, quiet=True)
    a = load_checkpoint(eval_run.dir / "checkpoints" / "latest.pt")
    b = load_checkpoint(resumed.dir / "checkpoints" / "latest.pt")
    assert all(torch.equal(a["g"][k], b["g"][k]) for k in a["g"]) and a["evaluation"] == b["evaluation"]
    strip = lambda rows: [{k: v for k, v in r.items() if k not in MACHINE_KEYS} for r in rows]  # noqa: E731
    assert strip(resumed.metrics()) == strip(eval_run.metrics())


@pytest.mark.parametrize(
    ("override", "needles"),
    [("eval.every=3", ("eval.every=3", "train.log_every=2")), ("eval.every=-2", ("eval.every", "at least 0", "-2"))],
)
def test_bad_evaluation_settings_are_refused_before_training(capsys, tmp_path, override, needles):
    sets = [x for o in [*tiny_overrides(), override] for x in ("--set", o)]
    code, _, err = run_cli(capsys, "train", "dcgan", "--data", "digits", "--steps", "4", "--out", tmp_path / "r", *sets)
    assert_one_line_error(code, err, *needles)
    assert not (tmp_path / "r").exists()
