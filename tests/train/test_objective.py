"""The objective's phases: several D steps per G step, each on a fresh batch."""

import pytest

import ganforge
from ganforge.api import resolve_config
from ganforge.train.loop import Trainer
from tests.conftest import tiny_overrides
from tests.train.test_loop import write_folder


@pytest.mark.filterwarnings("ignore::UserWarning")  # the spies replace optimizer.step
def test_d_steps_runs_d_on_fresh_batches_before_each_g_step(tmp_path):
    cfg = resolve_config("dcgan", data="digits", overrides=[*tiny_overrides(), "train.d_steps=3"])
    t = Trainer(cfg, tmp_path / "r", quiet=True)
    assert [(p.name, p.net, p.repeats) for p in t.objective.phases] == [("D", "d", 3), ("G", "g", 1)]
    steps, reals = [], []
    for name, opt in t.optimizers.items():
        original = opt.optimizer.step
        opt.optimizer.step = lambda *a, _n=name, _f=original, **k: (steps.append(_n), _f(*a, **k))[1]
    discriminator_loss = t.objective.discriminator_loss
    t.objective.discriminator_loss = lambda cond, real: (reals.append(real), discriminator_loss(cond, real))[1]
    t.train_step()
    t.train_step()
    assert steps == ["d", "d", "d", "g"] * 2
    assert t.progress.batches == 6
    assert all(not (a == b).all() for a, b in zip(reals, reals[1:], strict=False))  # a fresh batch each time


def test_epochs_count_batches_drawn_not_generator_steps(tmp_path):
    data = write_folder(tmp_path / "imgs", n=32)  # 4 batches of 8 an epoch
    over = [*tiny_overrides(), "train.d_steps=2"]
    run = ganforge.train("dcgan", data=data, epochs=3, out=tmp_path / "r", overrides=over, quiet=True)
    assert run.step == 6 and run.metrics()[-1]["epoch"] == 3.0
