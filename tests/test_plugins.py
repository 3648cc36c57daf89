"""A new adversarial loss, a new model family and a new penalty plug in by registry calls alone: nothing in
the loop, the CLI or the checkpoint code knows them."""

import json
from dataclasses import dataclass

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import ganforge
from ganforge.config import ModelConfig, option
from ganforge.losses import ADVERSARIAL_LOSSES, PENALTIES, AdversarialLoss, Penalty
from ganforge.models import FAMILIES, Family, register_family
from ganforge.train.loop import Trainer
from tests.test_cli import run_cli


class SquaredHinge(AdversarialLoss):
    """A toy: hinge with squared margins."""

    def d_parts(self, real, fake):
        return F.relu(1 - real).square().mean(), F.relu(1 + fake).square().mean()

    def g_loss(self, fake, real=None):
        return -fake.float().mean()


@dataclass
class MLPOptions(ModelConfig):
    latent_dim: int = option(16, positive=True)
    hidden: int = option(64, positive=True)


def build_mlp(cfg):
    m, c, s = cfg.model, cfg.data.channels, cfg.data.image_size
    pixels = c * s * s
    g = nn.Sequential(nn.Linear(m.latent_dim, m.hidden), nn.ReLU(), nn.Linear(m.hidden, pixels), nn.Tanh())
    g.append(nn.Unflatten(1, (c, s, s)))
    d = nn.Sequential(nn.Flatten(), nn.Linear(pixels, m.hidden), nn.LeakyReLU(0.2), nn.Linear(m.hidden, 1))
    return g, d


def gradient_penalty_on_reals(discriminate, real, fake):
    real = real.detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(discriminate(real).sum(), real, create_graph=True)
    return grad.square().flatten(1).sum(1).mean()


PENALTY_INTERVAL = {"value": 3}


@pytest.fixture
def plugins():
    register_family(Family("toy-mlp", "unconditional", MLPOptions, build_mlp))
    ADVERSARIAL_LOSSES.register("toy-squared-hinge", SquaredHinge)
    PENALTIES.register(
        "toy-r1", lambda cfg: Penalty("toy_r1", 0.5, gradient_penalty_on_reals, PENALTY_INTERVAL["value"])
    )
    yield
    FAMILIES.unregister("toy-mlp")
    ADVERSARIAL_LOSSES.unregister("toy-squared-hinge")
    PENALTIES.unregister("toy-r1")


TOY = ["model.family=toy-mlp", "data.image_size=8", "data.channels=1", "loss.gan=toy-squared-hinge"]
SMALL = ["train.batch_size=16", "train.log_every=1", "train.sample_every=3", "train.checkpoint_every=3"]


def test_a_registered_family_loss_and_lazy_penalty_train_sample_and_resume(plugins, tmp_path, capsys):
    code, _, err = run_cli(
        capsys, "train", "dcgan", "--data", "digits", "--steps", "7", "--out", tmp_path / "r", "--quiet",
        *[arg for o in TOY + SMALL for arg in ("--set", o)],
    )  # fmt: skip
    assert code == 0, err
    rows = [json.loads(line) for line in (tmp_path / "r" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == list(range(1, 8))
    # a non-logistic loss logs D's raw scores, not probabilities
    assert all("D_real" in r and "D_fake" in r and "D_x" not in r for r in rows)
    # the lazy phase ran at steps 0, 3 and 6 only (logged as steps 1, 4, 7)
    assert [r["step"] for r in rows if "d_toy_r1" in r] == [1, 4, 7]
    saved = json.loads((tmp_path / "r" / "config.json").read_text())
    assert saved["model"] == {"family": "toy-mlp", "latent_dim": 16, "hidden": 64}

    code, _, _ = run_cli(capsys, "train", "--resume", tmp_path / "r", "--steps", "9", "--quiet")
    assert code == 0
    code, _, _ = run_cli(capsys, "sample", tmp_path / "r", "--n", "5", "--out", tmp_path / "s")
    assert code == 0 and len(list((tmp_path / "s").glob("*.png"))) == 5
    assert ganforge.load(tmp_path / "r", device="cpu").sample(3, seed=0).shape == (3, 1, 8, 8)


def test_a_lazy_penalty_is_weighted_by_its_interval_and_trains_d_alone(plugins, tmp_path):
    cfg = ganforge.resolve_config("dcgan", data="digits", overrides=TOY + SMALL)
    t = Trainer(cfg, tmp_path / "r", quiet=True)
    phase = next(p for p in t.objective.phases if p.name == "D_toy_r1")
    assert (phase.net, phase.interval) == ("d", 3)
    inputs = t.objective.prepare(t._next_batch())
    loss, metrics = t.objective(phase, inputs)
    assert loss.item() == pytest.approx(0.5 * 3 * metrics["d_toy_r1"].item(), rel=1e-6)
    assert metrics["d_toy_r1"].item() > 0


def test_a_penalty_at_interval_1_joins_the_d_phase(plugins, tmp_path):
    PENALTY_INTERVAL["value"] = 1
    try:
        cfg = ganforge.resolve_config("dcgan", data="digits", overrides=TOY + SMALL)
        t = Trainer(cfg, tmp_path / "r", quiet=True)
    finally:
        PENALTY_INTERVAL["value"] = 3
    assert [p.name for p in t.objective.phases] == ["D", "G"]
    d_phase = t.objective.phases[0]
    loss, metrics = t.objective(d_phase, t.objective.prepare(t._next_batch()))
    assert loss.item() == pytest.approx(metrics["d_loss"].item() + 0.5 * metrics["d_toy_r1"].item(), rel=1e-5)
