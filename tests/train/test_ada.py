"""Adaptive discriminator augmentation (issue 23, train/ada.py): the chance p moves by D's overfitting
heuristic r_t = E[sign(D(real) - midpoint)] towards its target, stays in [0, 1], is logged, and resumes."""

import pytest
import torch

import ganforge
from ganforge.config import load_config
from ganforge.errors import UserError
from ganforge.runs.checkpoint import load_checkpoint
from ganforge.train.ada import AdaptiveAugment
from ganforge.train.d_inputs import DInputs
from tests.conftest import tiny_overrides


def controller(midpoint=0.0):
    """Batch 8, every 4 steps, 320 images to move p by 1: each adjustment moves p by 8 x 4 / 320 = 0.1."""
    cfg = load_config({"data": {"ada_target": 0.6, "ada_images": 320, "ada_every": 4}, "train": {"batch_size": 8}})
    return AdaptiveAugment(cfg, torch.zeros(()), midpoint)


def drive(ada, outputs, steps, start):
    """`steps` steps of D's phase seeing `outputs` on reals, each step's adjustment before it."""
    for step in range(start, start + steps):
        ada.before_step(step)
        ada.observe(outputs)
    return start + steps


def test_p_rises_while_d_is_sure_of_the_reals_and_falls_when_it_is_not():
    ada = controller()
    sure = torch.full((8, 1), 3.0)  # every real judged real: r_t = 1 > 0.6
    step = drive(ada, sure, 13, 0)  # adjustments at steps 4, 8, 12
    assert ada.rt.item() == 1.0 and ada.p.item() == pytest.approx(0.3)
    step = drive(ada, sure, 200, step)
    assert ada.p.item() == 1.0  # held at 1
    torn = torch.tensor([[2.0], [-1.0]] * 4)  # half judged fake: r_t = 0 < 0.6
    step = drive(ada, torn, 12, step)
    assert ada.rt.item() == 0.0 and ada.p.item() == pytest.approx(0.7)
    drive(ada, torn, 200, step)
    assert ada.p.item() == 0.0  # held at 0


def test_r_t_reads_a_least_squares_d_against_its_midpoint():
    """Least squares' D aims at 1 for reals and 0 for fakes: 0.7 is on the real side, 0.3 on the fake."""
    ada = controller(midpoint=0.5)
    outputs = torch.tensor([[0.7]] * 6 + [[0.3]] * 2)  # r_t = (6 - 2) / 8 = 0.5
    drive(ada, outputs, 5, 0)
    assert ada.rt.item() == pytest.approx(0.5) and ada.p.item() == 0.0  # below target: stays at 0


def test_the_geometric_operations_flip_and_turn_each_image():
    cfg = load_config({"data": {"diffaugment": "flip,rotate90"}})
    x = torch.arange(2 * 16, dtype=torch.float32).view(2, 1, 4, 4)
    torch.manual_seed(0)
    out = DInputs(cfg)(x)
    for i in range(2):
        turns = [torch.rot90(x[i].flip(2), k, dims=(1, 2)) for k in range(4)]
        assert any(torch.equal(out[i], t) for t in turns)


def test_ada_augments_with_the_default_pipeline_from_zero_and_refuses_a_ramp_beside_it():
    d = DInputs(load_config({"data": {"ada_target": 0.6}}))
    assert d.names == ["translation", "color"] and d.p_now.item() == 0.0
    with pytest.raises(UserError, match="ada_target and data.augment_p_end"):
        load_config({"data": {"ada_target": 0.6, "diffaugment": "color", "augment_p_end": 0.1}})


def test_an_adaptive_run_logs_p_and_resumes_to_the_bit(tmp_path):
    over = [*tiny_overrides(), "data.ada_target=0.2", "data.ada_images=400", "data.ada_every=2"]
    run = ganforge.train("dcgan", data="digits", steps=8, out=tmp_path / "r", quiet=True, overrides=over)
    rows = run.metrics()
    assert all(0 <= r["augment_p"] <= 1 and -1 <= r["ada_rt"] <= 1 for r in rows)
    assert max(r["augment_p"] for r in rows) > 0  # D is sure of the reals early on: p moved
    page = ganforge.report(run.dir).read_text()
    assert 'id="ada"' in page and '<img class="plot"' in page.split('id="ada"')[1][:200]  # p's plot
    ended = load_checkpoint(run.checkpoint)
    ganforge.train(resume=run.dir, checkpoint="step_4", quiet=True)
    again = load_checkpoint(run.checkpoint)
    assert torch.equal(ended["ada"]["p"], again["ada"]["p"]) and torch.equal(ended["ada"]["rt"], again["ada"]["rt"])
    for name in ("g", "d"):
        assert all(torch.equal(ended[name][k], again[name][k]) for k in ended[name]), name
