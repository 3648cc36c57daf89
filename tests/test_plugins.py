"""A new adversarial loss, a new model family and a new penalty plug in by registry calls alone: nothing in
the loop, the CLI or the checkpoint code knows them."""

import copy
import json
from dataclasses import dataclass

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import ganforge
from ganforge.config import ModelConfig, option
from ganforge.losses import ADVERSARIAL_LOSSES, PENALTIES, AdversarialLoss, Penalty
from ganforge.models import FAMILIES, Family, InferenceContract, register_family
from ganforge.train.hooks import HOOKS, Hook
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


class ToyEMA(Hook):
    """An exponential moving average of G's weights, a plain copy updated by lerp after each G phase."""

    def __init__(self, g, beta=0.5):
        self.g, self.beta, self.updates = g, beta, 0
        self.ema = copy.deepcopy(g).requires_grad_(False)

    def after_phase(self, phase):
        if phase.net == "g":
            with torch.no_grad():
                for mine, theirs in zip(self.ema.parameters(), self.g.parameters(), strict=True):
                    mine.lerp_(theirs, 1 - self.beta)
            self.updates += 1

    def networks(self):
        return {"g_ema": self.ema}

    def state_dict(self):
        return {"updates": self.updates}

    def load_state_dict(self, state):
        self.updates = state["updates"]


def ema_contract(cfg):
    return InferenceContract(weights="g_ema")


def toy_ema(trainer):
    return ToyEMA(trainer.g) if trainer.cfg.model.family == "toy-mlp-ema" else None


@pytest.fixture
def plugins():
    register_family(Family("toy-mlp", "unconditional", MLPOptions, build_mlp))
    ADVERSARIAL_LOSSES.register("toy-squared-hinge", SquaredHinge)
    PENALTIES.register(
        "toy-r1", lambda cfg: Penalty("toy_r1", 0.5, gradient_penalty_on_reals, PENALTY_INTERVAL["value"])
    )
    register_family(Family("toy-mlp-ema", "unconditional", MLPOptions, build_mlp, inference=ema_contract))
    HOOKS.register("toy-ema", toy_ema)
    yield
    FAMILIES.unregister("toy-mlp")
    FAMILIES.unregister("toy-mlp-ema")
    ADVERSARIAL_LOSSES.unregister("toy-squared-hinge")
    PENALTIES.unregister("toy-r1")
    HOOKS.unregister("toy-ema")


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
    assert saved["model"] == {"family": "toy-mlp", "spectral_norm": False, "latent_dim": 16, "hidden": 64}

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
    inputs = t.next_inputs()
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
    loss, metrics = t.objective(d_phase, t.next_inputs())
    assert loss.item() == pytest.approx(metrics["d_loss"].item() + 0.5 * metrics["d_toy_r1"].item(), rel=1e-5)


def test_a_hook_keeps_ema_weights_that_are_saved_resumed_and_used_by_the_contract(plugins, tmp_path):
    """A registered hook (an EMA of G) and a family whose contract runs the EMA weights: the sample
    grids, ganforge.load and resume all follow, with no edit of the loop or the checkpoint code."""
    opts = dict(data="digits", overrides=["model.family=toy-mlp-ema", *TOY[1:], *SMALL], quiet=True)
    straight = ganforge.train("dcgan", steps=6, out=tmp_path / "a", **opts)
    ganforge.train("dcgan", steps=4, out=tmp_path / "b", **opts)
    ganforge.train(resume=tmp_path / "b", steps=6, quiet=True)
    a = torch.load(straight.checkpoint, weights_only=True)
    b = torch.load(tmp_path / "b" / "checkpoints" / "latest.pt", weights_only=True)
    assert a["toy-ema"] == b["toy-ema"] == {"updates": 6}
    assert all(torch.equal(a["g_ema"][k], b["g_ema"][k]) for k in a["g_ema"])
    assert not all(torch.equal(a["g_ema"][k], a["g"][k]) for k in a["g"])
    g = ganforge.load(straight.dir, device="cpu")
    assert all(torch.equal(v, a["g_ema"][k]) for k, v in g.net.state_dict().items())
    grid = (straight.dir / "samples" / "step_0000006.png").read_bytes()
    assert grid == (tmp_path / "b" / "samples" / "step_0000006.png").read_bytes()
