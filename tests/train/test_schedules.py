"""Schedules (train/schedules.py): the learning rates, Adam's beta2 and R1/R2's gamma ramp along a half
cosine over the run, take the values the formula gives at each step, keep the lazy phases' correction,
and a resumed run takes the same values as an unbroken one."""

from __future__ import annotations

import math

import pytest
import torch

import ganforge
from ganforge.config import load_config
from ganforge.errors import UserError
from ganforge.registry import HOOKS
from ganforge.train.d_inputs import AUGMENTATIONS, DInputs
from ganforge.train.hooks import Hook
from ganforge.train.schedules import cosine
from tests.conftest import tiny_overrides

RAMPS = ["train.g_optim.lr=0.002", "train.g_optim.lr_end=0.0005", "train.d_optim.lr=0.001",
         "train.d_optim.beta1=0", "train.d_optim.beta2=0.99", "train.d_optim.beta2_start=0.9",
         "loss.penalty_end=0.1", "data.diffaugment=translation,cutout", "data.augment_p=0.9",
         "data.augment_p_end=0.2"]  # fmt: skip
SETTINGS = ["model.family=r3gan", "model.width=16", "model.blocks=1", "model.latent_dim=8", "data.image_size=16",
            "data.channels=1", "loss.gan=rpgan", "loss.r1=0.5", "loss.r2=0.5", "loss.reg_every=2",
            "train.batch_size=8", "train.log_every=2", "train.sample_every=100", "train.checkpoint_every=3",
            "train.grid_size=2", "train.ema=100", *RAMPS]  # fmt: skip


def test_the_half_cosine_starts_ends_and_halves():
    assert cosine(4.0, 1.0, 0.0) == 4.0 and cosine(4.0, 1.0, 1.0) == 1.0
    assert cosine(4.0, 1.0, 0.5) == pytest.approx(2.5) and cosine(4.0, 1.0, 0.25) == pytest.approx(1 + 3 * 0.8535534)
    assert cosine(4.0, 1.0, 2.0) == 1.0  # past the end it stays there


class Recorder(Hook):
    """What the optimisers and the objective hold while each step runs."""

    def __init__(self, trainer, seen):
        self.trainer, self.seen = trainer, seen

    def after_phase(self, phase) -> None:
        t = self.trainer
        g, d = t.optimizers["g"].optimizer.param_groups[0], t.optimizers["d"].optimizer.param_groups[0]
        objective = t.objective  # the values the step reads, on the device where a CUDA graph reads them
        values = (float(g["lr"]), float(d["lr"]), d["betas"][1], float(objective.penalty_scale),
                  float(objective.d_inputs.p_now))  # fmt: skip
        self.seen.setdefault(t.progress.step, values)


@pytest.fixture
def seen():
    values: dict[int, tuple] = {}
    HOOKS.register("test-recorder", lambda trainer: Recorder(trainer, values))
    yield values
    HOOKS.unregister("test-recorder")


def test_each_step_takes_the_values_of_the_formula(tmp_path, seen):
    ganforge.train("dcgan", data="digits", steps=5, out=tmp_path / "r", quiet=True, overrides=SETTINGS)
    lazy = 1 / (1 + 1 / 2 + 1 / 2)  # D's lazy ratio: two lazy phases (R1, R2), each every 2 steps
    for step in range(5):
        t = step / 4
        g_lr, d_lr, d_beta2, scale, augment_p = seen[step]
        assert g_lr == pytest.approx(0.0005 + 0.0015 * 0.5 * (1 + math.cos(math.pi * t)))
        assert d_lr == pytest.approx(0.001 * lazy)  # D's learning rate is constant, lazily corrected
        assert d_beta2 == pytest.approx((0.99 - 0.09 * 0.5 * (1 + math.cos(math.pi * t))) ** lazy)
        assert scale == pytest.approx(0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * t)))
        assert augment_p == pytest.approx(0.2 + 0.7 * 0.5 * (1 + math.cos(math.pi * t)))
    log = (tmp_path / "r" / "log.txt").read_text()
    assert (
        "schedules over 5 steps (cosine unless said): lr 0.002 -> 0.0005 (G), beta2 0.9 -> 0.99 (D), "
        "R1/R2 gamma x1 -> x0.1, DiffAugment's chance 0.9 -> 0.2" in log
    )


@pytest.mark.parametrize("p", [0.0, 0.3, 0.8])
def test_augmentation_changes_the_share_of_images_its_chance_says(p):
    """Cutout on images of ones: an image it changed has zeros. At chance p about p of 4,000 images have."""
    cfg = load_config({"data": {"diffaugment": "cutout", "augment_p": p}})
    d_inputs = DInputs(cfg)
    torch.manual_seed(0)
    out = d_inputs(torch.ones(4000, 1, 8, 8))
    changed = (out == 0).flatten(1).any(1).float().mean().item()
    assert abs(changed - p) < 0.03, changed  # binomial sd at most 0.008


def test_augmentation_at_chance_one_draws_as_diffaugment_does():
    """p = 1 (the default) changes every image and takes no draw of its own: older runs train as before."""
    x = torch.randn(16, 3, 8, 8)
    torch.manual_seed(3)
    ours = DInputs(load_config({"data": {"diffaugment": "translation,cutout"}}))(x)
    torch.manual_seed(3)
    assert torch.equal(ours, AUGMENTATIONS["cutout"](AUGMENTATIONS["translation"](x)))


def test_a_run_resumed_midway_ends_with_the_same_weights(tmp_path):
    """Rolled back to its step-3 checkpoint and trained on to step 6, a run ends where it ended unbroken."""
    run = ganforge.train("dcgan", data="digits", steps=6, out=tmp_path / "run", quiet=True, overrides=SETTINGS)
    a = torch.load(run.checkpoint, weights_only=True)
    ganforge.train(resume=run.dir, checkpoint="step_3", quiet=True)
    b = torch.load(run.checkpoint, weights_only=True)
    assert b["step"] == 6
    for net in ("g", "d", "g_ema"):
        assert all(torch.equal(a[net][k], b[net][k]) for k in a[net]), net


def test_a_schedule_and_a_keras_decay_are_not_both_allowed():
    with pytest.raises(UserError, match="train.g_optim.lr_end and train.g_optim.lr_decay .* keep one"):
        load_config({"train": {"g_optim": {"lr_end": 1e-5, "lr_decay": 0.1}}})


def test_cyclegans_linear_decay_holds_then_falls_to_zero(tmp_path):
    """lr_schedule=linear with lr_hold=0.5 and lr_end=0: the learning rate of the first half, then a straight
    line to 0 at the last step (CycleGAN's 100 + 100 epochs, counted in steps)."""
    from ganforge.train.schedules import learning_rate

    o = load_config({"train": {"g_optim": {"lr": 2e-4, "lr_schedule": "linear", "lr_hold": 0.5}}}).train.g_optim
    for progress, expected in [(0, 2e-4), (0.3, 2e-4), (0.5, 2e-4), (0.75, 1e-4), (0.9, 0.4e-4), (1, 0)]:
        assert learning_rate(o, progress) == pytest.approx(expected, abs=1e-12)
    cosine_path = load_config({"train": {"g_optim": {"lr": 2e-4, "lr_schedule": "cosine", "lr_hold": 0.5}}})
    assert learning_rate(cosine_path.train.g_optim, 0.75) == pytest.approx(1e-4)  # halfway down the cosine
    run = ganforge.train(
        "dcgan",
        data="digits",
        steps=5,
        out=tmp_path / "r",
        quiet=True,
        overrides=["train.g_optim.lr_schedule=linear", "train.g_optim.lr_hold=0.5", *tiny_overrides()],
    )
    assert "lr 0.0002 -> 0 (G, linear after 50%)" in (run.dir / "log.txt").read_text()
    with pytest.raises(UserError, match="lr_schedule and train.d_optim.lr_decay"):
        load_config({"train": {"d_optim": {"lr_schedule": "linear", "lr_decay": 0.1}}})
