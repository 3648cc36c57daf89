"""Each stabiliser and remedy against its value, its gradient or its effect, computed independently."""

import math

import numpy as np
import pytest
import torch
from torch import nn

import ganforge
from ganforge.api import resolve_config
from ganforge.config import Config, LossConfig
from ganforge.errors import UserError
from ganforge.jsonio import read_lines
from ganforge.losses import ADVERSARIAL_LOSSES, build_adversarial_loss, gradient_penalty, zero_centred_penalty
from ganforge.models import build_models
from ganforge.models.minibatch import MinibatchDiscrimination, MinibatchStd
from ganforge.train.d_inputs import DInputs, _cutout, _translation
from ganforge.train.loop import Trainer
from ganforge.train.monitor import MACHINE_KEYS
from ganforge.train.replay import ReplayBuffer
from tests.conftest import tiny_overrides
from tests.train.test_state import same


def linear_critic(w: torch.Tensor):
    """D(x) = <w, x> + 1: its input gradient is w everywhere."""
    return lambda x: (x.flatten(1) * w).sum(1, keepdim=True) + 1.0


def test_wgan_gp_losses_and_penalty():
    loss = ADVERSARIAL_LOSSES.get("wgan-gp")(LossConfig())
    real, fake = torch.tensor([[2.0], [4.0]]), torch.tensor([[1.0], [-1.0]])
    assert loss.d_loss(real, fake)["d_loss"].item() == pytest.approx(0.0 - 3.0)
    assert loss.g_loss(fake).item() == pytest.approx(0.0) and loss.d_steps == 5
    w = torch.full((12,), 0.5)  # |w| = sqrt(3)
    gp = gradient_penalty(linear_critic(w), torch.randn(4, 3, 2, 2), torch.randn(4, 3, 2, 2))
    assert gp.item() == pytest.approx((math.sqrt(3) - 1) ** 2, rel=1e-5)


def test_rpgan_pairs_reals_with_fakes():
    loss = ADVERSARIAL_LOSSES.get("rpgan")(LossConfig())
    real, fake = torch.tensor([[2.0], [0.0]]), torch.tensor([[1.0], [1.0]])
    softplus = lambda t: np.log1p(np.exp(t))  # noqa: E731
    assert loss.d_loss(real, fake)["d_loss"].item() == pytest.approx((softplus(-1) + softplus(1)) / 2)
    assert loss.g_loss(fake, real).item() == pytest.approx((softplus(1) + softplus(-1)) / 2)
    assert loss.d_loss(real, real)["d_loss"].item() == pytest.approx(math.log(2)) and loss.g_needs_real


def test_r1_is_half_the_squared_input_gradient_and_lazy_r1_scales_the_optimiser():
    w = torch.arange(12.0) / 10
    assert zero_centred_penalty(linear_critic(w), torch.randn(3, 3, 2, 2)).item() == pytest.approx(
        0.5 * (w**2).sum().item(), rel=1e-5
    )
    cfg = resolve_config("dcgan", data="digits", overrides=[*tiny_overrides(), "loss.r1=2", "loss.reg_every=4"])
    t = Trainer(cfg, "/nonexistent/never-written", quiet=True)
    assert [(p.name, p.interval) for p in t.objective.phases] == [("D", 1), ("D_r1", 4), ("G", 1)]
    group = t.optimizers["d"].optimizer.param_groups[0]
    assert group["lr"] == pytest.approx(2e-4 * 4 / 5) and group["betas"][0] == pytest.approx(0.5 ** (4 / 5))
    loss, metrics = t.objective(t.objective.phases[1], t.next_inputs())
    assert loss.item() == pytest.approx(2 * 4 * metrics["d_r1"].item(), rel=1e-5)


def test_label_smoothing_lowers_the_real_target():
    x = torch.tensor([[0.3], [-1.2], [2.0]])
    loss = ADVERSARIAL_LOSSES.get("bce")(LossConfig(label_smoothing=0.1))
    sig = 1 / (1 + np.exp(-x.numpy()))
    expected = -(0.9 * np.log(sig) + 0.1 * np.log(1 - sig)).mean()
    assert loss.d_loss(x, x)["d_loss_real"].item() == pytest.approx(expected, rel=1e-5)
    with pytest.raises(UserError, match="label_smoothing"):
        build_adversarial_loss(resolve_config("dcgan", overrides=["loss.gan=hinge", "loss.label_smoothing=0.1"]))


def test_instance_noise_falls_linearly_to_zero():
    cfg = resolve_config("dcgan", overrides=["loss.instance_noise=0.2", "loss.instance_noise_steps=100"])
    d_inputs = DInputs(cfg)
    x = torch.zeros(64, 3, 16, 16)
    for step, std in [(0, 0.2), (50, 0.1), (100, 0.0), (150, 0.0)]:
        d_inputs.set_step(step, 1000)
        assert d_inputs.noise_std == pytest.approx(std)
        assert d_inputs(x).std().item() == pytest.approx(std, abs=0.01)


def test_diffaugment_translation_and_cutout_do_what_they_say_and_pass_gradients():
    x = torch.rand(16, 2, 8, 8, requires_grad=True)
    torch.manual_seed(0)
    moved = _translation(x)
    for i in range(16):  # each image is its own, shifted by at most one pixel (1/8 of 8) and zero-filled
        matches = [
            (dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1) if torch.equal(moved[i], shift(x[i].detach(), dy, dx))
        ]
        assert matches, i
    cut = _cutout(torch.ones(16, 2, 8, 8))
    assert ((cut == 0).flatten(1).float().mean(1) <= 0.25 + 1e-6).all() and (cut == 0).any()
    moved.sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    cfg = resolve_config("dcgan", overrides=["data.diffaugment=color,translation,cutout"])
    assert DInputs(cfg)(x).shape == x.shape
    with pytest.raises(UserError, match="data.diffaugment"):
        DInputs(resolve_config("dcgan", overrides=["data.diffaugment=colour"]))


def shift(image, dy, dx):
    out = torch.zeros_like(image)
    h, w = image.shape[-2:]
    ys, xs = slice(max(dy, 0), h + min(dy, 0)), slice(max(dx, 0), w + min(dx, 0))
    yd, xd = slice(max(-dy, 0), h + min(-dy, 0)), slice(max(-dx, 0), w + min(-dx, 0))
    out[:, ys, xs] = image[:, yd, xd]
    return out


def test_diffaugment_reaches_d_in_both_phases(tmp_path):
    cfg = resolve_config("dcgan", data="digits", overrides=[*tiny_overrides(), "data.diffaugment=cutout"])
    t = Trainer(cfg, tmp_path / "r", quiet=True)
    seen = []
    t.d.register_forward_pre_hook(lambda module, args: seen.append((args[0] == 0).flatten(1).float().mean().item()))
    t.train_step()
    assert len(seen) == 3 and min(seen) > 0.1  # reals and fakes in D's phase, fakes in G's: up to a quarter cut


def test_spectral_norm_keeps_each_layer_of_d_at_unit_norm():
    torch.manual_seed(0)
    cfg = resolve_config("dcgan", overrides=["model.width=8", "data.image_size=32", "model.spectral_norm=true"])
    _, d = build_models(cfg)
    for _ in range(30):  # power iterations
        d(torch.randn(4, 3, 32, 32))
    layers = [m for m in d.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    assert len(layers) == 4
    for m in layers:
        sigma = torch.linalg.matrix_norm(m.weight.flatten(1), ord=2).item()
        assert sigma == pytest.approx(1.0, rel=0.05)


def test_minibatch_std_and_discrimination_see_the_whole_batch():
    x = torch.randn(8, 3, 4, 4)
    out = MinibatchStd(group_size=4)(x)
    assert out.shape == (8, 4, 4, 4)
    grouped = x.reshape(4, 2, 3, 4, 4)  # image i is in group i % 2
    expected = grouped.var(0, unbiased=False).add(1e-8).sqrt().flatten(1).mean(1)
    assert torch.allclose(out[:, 3, 0, 0], expected.repeat(4))
    mbd = MinibatchDiscrimination(10, kernels=3)
    same = mbd(torch.ones(5, 10))
    assert same.shape == (5, 13) and torch.allclose(same[:, 10:], torch.full((5, 3), 4.0))  # 4 identical others
    assert (mbd(torch.randn(5, 10) * 10)[:, 10:] < 4.0).all()
    for preset, size in [("dcgan-mnist", 28), ("dcgan-128", 128), ("dcgan", 32)]:
        on = ["model.minibatch_std=true", "model.minibatch_discrimination=4", f"data.image_size={size}"]
        _, d = build_models(resolve_config(preset, overrides=["model.width=4", *on]))
        assert d(torch.randn(3, 3 if preset != "dcgan-mnist" else 1, size, size)).shape == (3, 1), preset
        kinds = {type(m) for m in d.modules()}
        assert {MinibatchStd, MinibatchDiscrimination} <= kinds, preset


def test_replay_swaps_fakes_at_its_probability_and_keeps_pairs_together():
    torch.manual_seed(0)
    buffer = ReplayBuffer(size=64, prob=0.3, batch_size=16)
    for _ in range(4):  # filling: kept and shown as they are
        _, shown = buffer(None, torch.zeros(16, 1, 2, 2))
        assert (shown == 0).all()
    old = [(buffer(None, torch.ones(16, 1, 2, 2))[1][:, 0, 0, 0] == 0).float().mean().item() for _ in range(40)]
    assert np.mean(old[:3]) == pytest.approx(0.3 * 0.93, abs=0.1)  # swapped for one of the old zeros
    assert np.mean(old[-10:]) < 0.1 and buffer.fakes.mean() > 0.9  # the old ones leave the pool gradually
    cond = torch.arange(16.0).view(16, 1, 1, 1).expand(16, 1, 2, 2)
    pairs = ReplayBuffer(16, 1.0, 16)
    pairs(cond, cond * 10)
    shown_cond, shown_fake = pairs(cond + 100, (cond + 100) * 10)
    assert torch.equal(shown_fake, shown_cond * 10) and torch.equal(shown_cond.sort(0).values, cond)
    with pytest.raises(UserError, match="replay_size"):
        ReplayBuffer(8, 0.5, 16)


def test_ema_follows_g_with_its_half_life_and_is_what_the_run_samples(tmp_path):
    over = [*tiny_overrides(), "train.ema=16", "train.ema_rampup=0"]
    cfg = resolve_config("dcgan", data="digits", overrides=over)
    t = Trainer(cfg, tmp_path / "r", quiet=True)
    ema = t.hooks["ema"]
    assert ema.beta(1000) == pytest.approx(0.5 ** (8 / 16))  # batch 8, half-life 16 images
    before = [p.clone() for p in ema.ema.parameters()]
    t.train_step()
    beta = 0.5**0.5
    for averaged, start, now in zip(ema.ema.parameters(), before, t.g.parameters(), strict=True):
        assert torch.allclose(averaged, beta * start + (1 - beta) * now.detach(), atol=1e-6)
    run = ganforge.train("dcgan", data="digits", steps=4, out=tmp_path / "run", overrides=over, quiet=True)
    state = torch.load(run.checkpoint, weights_only=True)
    g = ganforge.load(run.dir, device="cpu")
    assert g.contract.weights == "g_ema"
    assert all(torch.equal(v, state["g_ema"][k]) for k, v in g.net.state_dict().items())
    assert not all(torch.equal(state["g"][k], state["g_ema"][k]) for k in state["g"])
    rampup = resolve_config(cfg, overrides={"train.ema": 10000.0, "train.ema_rampup": 0.05})
    early = Trainer(rampup, tmp_path / "r2", quiet=True)
    assert early.hooks["ema"].beta(800) == pytest.approx(0.5 ** (8 / 40))  # half-life 0.05 * 800 images


@pytest.mark.parametrize(
    "extra",
    [
        ["loss.gan=wgan-gp", "train.d_steps=2"],
        ["loss.gan=rpgan", "loss.r1=0.1", "loss.r2=0.1", "loss.reg_every=2"],
        ["train.replay_size=16", "model.minibatch_std=true", "loss.label_smoothing=0.1"],
        ["data.diffaugment=color,translation,cutout", "model.spectral_norm=true"],
        ["loss.instance_noise=0.1", "loss.instance_noise_steps=10"],
        ["train.ema=64", "model.minibatch_discrimination=4", "loss.r1=0.5", "loss.reg_every=2", "train.replay_size=16"],
    ],
)
def test_stabilisers_train_and_resume_exactly(tmp_path, extra):
    """Every component of the checkpoint (EMA, replay buffer, health detector ...), the metrics and the
    events of a run resumed between log lines equal an uninterrupted run's."""
    health = ["health.warmup=0", "health.grad_exploding_above=1e-9"]  # an event at the first log line
    over = [*tiny_overrides(), "train.log_every=3", *health, *extra]
    ganforge.train("dcgan", data="digits", steps=7, out=tmp_path / "a", overrides=over, quiet=True)
    ganforge.train("dcgan", data="digits", steps=4, out=tmp_path / "b", overrides=over, quiet=True)
    ganforge.train(resume=tmp_path / "b", steps=7, quiet=True)
    a = torch.load(tmp_path / "a" / "checkpoints" / "latest.pt", weights_only=True)
    b = torch.load(tmp_path / "b" / "checkpoints" / "latest.pt", weights_only=True)
    assert a.keys() == b.keys()
    for key in a.keys() - {"config", "clock"}:  # the clock holds the wall time spent (train/stopping.py)
        assert same(a[key], b[key]), key
    assert a["clock"]["seconds"] > 0 and b["clock"]["seconds"] > 0
    assert all(torch.isfinite(v).all() for v in a["g"].values())
    for name in ("metrics.jsonl", "events.jsonl"):
        lines = [[{k: v for k, v in r.items() if k not in MACHINE_KEYS} for r in read_lines(run / name)] for run in (
            tmp_path / "a", tmp_path / "b")]  # fmt: skip
        assert lines[0] == lines[1] and lines[0], name


def test_config_type_is_unchanged():
    assert isinstance(resolve_config("dcgan"), Config)


def _train_d(d, reals, make_fakes, steps, replay=None):
    """D alone against fixed fakes, as in its phase: bce on reals (label 1) and fakes (label 0)."""
    opt = torch.optim.Adam(d.parameters(), lr=2e-3, betas=(0.5, 0.999))
    loss = ADVERSARIAL_LOSSES.get("bce")(LossConfig())
    for i in range(steps):
        real = reals[torch.randint(0, len(reals), (16,))]
        fake = make_fakes(i)
        if replay is not None:
            _, fake = replay(None, fake)
        opt.zero_grad()
        loss.d_loss(d(real), d(fake))["d_loss"].backward()
        opt.step()


def test_replay_keeps_d_judging_the_modes_g_has_left():
    """G's fakes were of mode A, then moved to mode B: with replay, D keeps calling A fake."""
    from ganforge.models.dcgan import MnistDiscriminator

    torch.manual_seed(0)
    reals = torch.rand(256, 1, 28, 28) * 0.2 - 0.1  # near grey
    mode_a, mode_b = torch.full((16, 1, 28, 28), 0.8), torch.full((16, 1, 28, 28), -0.8)
    scores = {}
    for name, replay in (("without", None), ("with", ReplayBuffer(512, 0.5, 16))):
        torch.manual_seed(1)
        d = MnistDiscriminator(1, 8, 0.2, 0.0)
        _train_d(d, reals, lambda i: mode_a, 60, replay)
        _train_d(d, reals, lambda i: mode_b, 60, replay)
        scores[name] = torch.sigmoid(d(mode_a)).mean().item()  # D's belief that mode A is real
    print(scores)
    assert scores["with"] < 0.2 < scores["without"]


@pytest.mark.parametrize("layer", ["minibatch_std", "minibatch_discrimination"])
def test_minibatch_layers_let_d_see_a_collapsed_batch(layer):
    """Fakes that are copies of one real image each batch: every fake is realistic on its own, so a D
    that sees images one at a time cannot tell; with a minibatch layer it can."""
    from ganforge.data.builtin import digits_images
    from ganforge.models.dcgan import MnistDiscriminator

    reals = digits_images(28, 1)[0]
    options = {"minibatch_std": layer == "minibatch_std", "minibatch_kernels": 8 * (layer != "minibatch_std")}
    accuracy = {}
    for name, kwargs in (("plain", {}), ("minibatch", options)):
        torch.manual_seed(0)
        d = MnistDiscriminator(1, 8, 0.2, 0.0, **kwargs)
        copies = lambda i: reals[torch.randint(0, len(reals), (1,))].expand(16, 1, 28, 28)  # noqa: E731
        _train_d(d, reals, copies, 150)
        with torch.no_grad():
            real_right = torch.stack([d(reals[torch.randint(0, len(reals), (16,))]) > 0 for _ in range(20)])
            fake_right = torch.stack([d(copies(0)) < 0 for _ in range(20)])
        accuracy[name] = 0.5 * (real_right.float().mean() + fake_right.float().mean()).item()
    print(layer, accuracy)
    assert accuracy["minibatch"] > 0.9 and accuracy["plain"] < 0.75


def test_wgan_gp_defaults_to_five_critic_steps_and_r2_acts_on_fakes(tmp_path):
    cfg = resolve_config("dcgan", data="digits", overrides=[*tiny_overrides(), "loss.gan=wgan-gp"])
    t = Trainer(cfg, tmp_path / "a", quiet=True)
    assert t.objective.phases[0].repeats == 5 and t.objective.batches_per_step == 5
    assert any("batch normalisation" in note for note in t.objective.notes())
    over = [*tiny_overrides(), "loss.gan=rpgan", "loss.r2=1", "loss.reg_every=2"]
    t = Trainer(resolve_config("dcgan", data="digits", overrides=over), tmp_path / "b", quiet=True)
    penalty = t.objective.lazy["D_r2"]
    w = torch.arange(3 * 32 * 32, dtype=torch.float32) / 3000
    real, fake = torch.zeros(2, 3, 32, 32), torch.ones(2, 3, 32, 32)
    assert penalty.uses_fakes
    value = penalty.fn(
        lambda x: (x.flatten(1) * w).sum(1, keepdim=True) * x.flatten(1).mean(1, keepdim=True), real, fake
    )
    # D(x) = <w, x> * mean(x): on the fakes (all ones) its gradient is w + sum(w) / n, not the reals' 0
    expected = 0.5 * (w + w.sum() / w.numel()).square().sum()
    assert value.item() == pytest.approx(expected.item(), rel=1e-4)


def test_diffaugment_color_stays_in_its_ranges_and_keeps_a_pair_apart():
    from ganforge.train.d_inputs import _color

    torch.manual_seed(0)
    flat = torch.zeros(256, 3, 4, 4)
    shifted = _color(flat, [3])  # a flat image: only the brightness shift remains
    assert shifted.std(dim=(1, 2, 3)).max() < 1e-6 and shifted.mean(dim=(1, 2, 3)).abs().max() <= 0.5
    assert shifted.mean(dim=(1, 2, 3)).std() > 0.2  # U(-0.5, 0.5): std 0.29
    pair = torch.cat([torch.full((8, 3, 4, 4), -1.0), torch.full((8, 3, 4, 4), 1.0)], dim=1)
    out = _color(pair, [3, 3])
    assert torch.allclose(out[:, 3:] - out[:, :3], torch.full_like(out[:, :3], 2.0) * 0 + out[:, 3:] - out[:, :3])
    assert (out[:, :3].std(dim=(1, 2, 3)) < 1e-6).all()  # each image's means are its own: a flat one stays flat
