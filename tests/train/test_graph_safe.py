"""The pieces a CUDA graph replays (train/graphs.py), on the CPU: a replayed step runs the kernels it
captured on the tensors it captured, so whatever changes from step to step must be a tensor written in place
before the step, and the step's random draws and shapes must not depend on it. The graphed runs themselves:
tests/train/test_cuda.py, on a GPU."""

import math

import pytest
import torch

import ganforge
from ganforge.api import resolve_config
from ganforge.config import load_config
from ganforge.runs.checkpoint import load_checkpoint
from ganforge.train.d_inputs import DInputs
from ganforge.train.loop import Trainer
from ganforge.train.replay import ReplayBuffer
from tests.conftest import tiny_overrides
from tests.train.test_runtime import max_difference, train

SERVED = ["train.ema=64", "train.g_optim.lr_end=0.0001", "train.d_optim.lr_decay=0.01", "train.replay_size=16",
          "data.diffaugment=color,translation,cutout", "data.augment_p=0.9", "data.augment_p_end=0.2",
          "loss.instance_noise=0.1", "loss.instance_noise_steps=4", "train.precision=fp32"]  # fmt: skip


def draws_of(call) -> torch.Tensor:
    """The state of the CPU's random generator after `call()` from a fixed seed: equal states mean equal
    draws, of equal shapes."""
    torch.manual_seed(0)
    call()
    return torch.get_rng_state()


def test_d_inputs_read_the_step_from_the_device_and_draw_alike_at_every_step():
    cfg = load_config({"data": {"diffaugment": "color,translation,cutout", "augment_p": 0.9, "augment_p_end": 0.2},
                       "loss": {"instance_noise": 0.1, "instance_noise_steps": 50}})  # fmt: skip
    d_inputs = DInputs(cfg)
    p, std = d_inputs.p_now, d_inputs.std_now
    x = torch.rand(8, 3, 8, 8)
    states = []
    for step in (0, 25, 99, 120):  # the chance ramps 0.9 -> 0.2 over 100 steps; the noise ends at step 50
        d_inputs.set_step(step, 100)
        assert d_inputs.p_now is p and d_inputs.std_now is std  # written in place
        assert p.item() == pytest.approx(0.2 + 0.7 * 0.5 * (1 + math.cos(math.pi * min(step / 99, 1))))
        assert std.item() == pytest.approx(0.1 * max(0.0, 1 - step / 50))
        states.append(draws_of(lambda: d_inputs(x)))
    assert all(torch.equal(s, states[0]) for s in states)
    d_inputs.set_step(120, 100)
    torch.manual_seed(0)
    first = d_inputs(x)
    d_inputs.p_now.fill_(0.0)  # what the step reads is the tensor: no augmentation, no noise left
    torch.manual_seed(0)
    assert torch.equal(d_inputs(x), x) and not torch.equal(first, x)


def test_the_full_replay_buffer_draws_alike_whatever_it_holds():
    buffer = ReplayBuffer(size=8, prob=0.5, batch_size=4)
    buffer(None, torch.zeros(4, 1, 2, 2))
    assert not buffer.full  # filling: the graph waits for it
    buffer(None, torch.zeros(4, 1, 2, 2))
    assert buffer.full
    a = draws_of(lambda: buffer(None, torch.ones(4, 1, 2, 2)))
    b = draws_of(lambda: buffer(None, torch.full((4, 1, 2, 2), 7.0)))
    assert torch.equal(a, b)
    kept = buffer.fakes
    for _ in range(20):
        buffer(None, torch.rand(4, 1, 2, 2) + 10)
    assert buffer.fakes is kept and kept.min() >= 10  # updated in place; the old fakes gave way


@pytest.mark.filterwarnings("ignore:Detected call of")  # nothing steps here: the decay advances alone
def test_a_learning_rate_in_a_graph_is_a_tensor_the_schedules_and_the_decay_write_in_place(tmp_path):
    over = tiny_overrides() + ["train.g_optim.lr_end=0.0001", "train.d_optim.lr_decay=0.5", "train.steps=5"]
    t = Trainer(resolve_config("dcgan", data="digits", overrides=over), tmp_path / "r", quiet=True)
    g, d = t.optimizers["g"], t.optimizers["d"]
    for o in (g, d):
        o.capturable(True)  # as for a graph (the CPU cannot run a capturable step: nothing steps here)
    g_lr, d_lr = g.optimizer.param_groups[0]["lr"], d.optimizer.param_groups[0]["lr"]
    assert isinstance(g_lr, torch.Tensor) and isinstance(d_lr, torch.Tensor)
    t.hooks["schedules"].before_step(4)  # the last step: the ramp's end
    for _ in range(3):
        d.advance()  # what the loop does after each replayed step
    assert g.optimizer.param_groups[0]["lr"] is g_lr and g_lr.item() == pytest.approx(0.0001)
    assert d.optimizer.param_groups[0]["lr"] is d_lr and d_lr.item() == pytest.approx(0.0002 / (1 + 0.5 * 3))
    saved = d.state_dict()
    assert saved["param_groups"][0]["lr"] == pytest.approx(0.0002 / 2.5)  # checkpoints keep a number
    d.capturable(False)
    d.load_state_dict(saved)
    assert type(d.optimizer.param_groups[0]["lr"]) is float


def test_ema_averages_with_the_weight_set_before_the_step(tmp_path):
    """The EMA's lerp reads its weight from a tensor that `before_step` writes: not the host's step."""
    over = tiny_overrides() + ["train.ema=16", "train.ema_rampup=0"]
    t = Trainer(resolve_config("dcgan", data="digits", overrides=over), tmp_path / "r", quiet=True)
    ema = t.hooks["ema"]
    weight = ema.weight
    ema.before_step(0)
    assert ema.weight is weight and weight.item() == pytest.approx(1 - 0.5 ** (8 / 16))
    before = [p.clone() for p in ema.ema.parameters()]
    t.progress.step = 1000  # what the host says now does not matter: the weight was set for the step
    ema.after_phase(t.objective.phases[-1])
    w = weight.item()
    for averaged, start, now in zip(ema.ema.parameters(), before, t.g.parameters(), strict=True):
        assert torch.allclose(averaged, start + w * (now.detach() - start), atol=1e-7)


def test_a_run_with_every_served_piece_resumes_exactly(tmp_path):
    """EMA, a ramped and a decayed learning rate, replay, ramped DiffAugment and instance noise, eagerly on
    the CPU: rolled back to its step-4 checkpoint and trained on, a run ends where it ended, to the bit."""
    run = train(tmp_path, "run", *SERVED)
    ended = load_checkpoint(run.checkpoint)
    ganforge.train(resume=run.dir, checkpoint="step_4", quiet=True)
    again = load_checkpoint(run.checkpoint)
    assert again["step"] == 8
    for net in ("g", "d", "g_ema"):
        assert max_difference(ended[net], again[net]) == 0, net
