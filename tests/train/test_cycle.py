"""CycleGAN's objective (train/cycle.py): each loss term against its value computed here from the networks,
where its gradients go, and the image pools D judges from."""

from types import SimpleNamespace

import pytest
import torch

from ganforge.config import load_config
from ganforge.models.cyclegan import CycleDiscriminator, CycleGenerator, PatchDiscriminator, ResnetGenerator
from ganforge.train.cycle import CycleObjective


def objective(replay_size=0, replay_prob=0.5, identity=0.5):
    torch.manual_seed(0)
    g = CycleGenerator(ResnetGenerator(width=4, blocks=1), ResnetGenerator(width=4, blocks=1))
    d = CycleDiscriminator(PatchDiscriminator(width=4), PatchDiscriminator(width=4))
    cfg = load_config({"loss": {"gan": "lsgan", "cycle": 10, "identity": identity},
                       "train": {"batch_size": 2, "replay_size": replay_size, "replay_prob": replay_prob}})  # fmt: skip
    task = SimpleNamespace(split=lambda batch: batch)
    return CycleObjective(cfg, task, g, d), g, d


def batch():
    torch.manual_seed(1)
    return torch.rand(2, 3, 32, 32) * 2 - 1, torch.rand(2, 3, 32, 32) * 2 - 1


def test_the_discriminators_loss_is_half_the_squared_error_of_each_side_summed():
    obj, g, d = objective()
    a, b = batch()
    loss, metrics = obj(obj.phases[0], obj.prepare((a, b)))
    with torch.no_grad():
        side_b = 0.5 * (((d.b(b) - 1) ** 2).mean() + (d.b(g.ab(a)) ** 2).mean())
        side_a = 0.5 * (((d.a(a) - 1) ** 2).mean() + (d.a(g.ba(b)) ** 2).mean())
    assert loss.item() == pytest.approx((side_a + side_b).item(), rel=1e-5)
    assert metrics["d_loss"].item() == pytest.approx((side_a + side_b).item() / 2, rel=1e-5)
    assert metrics["d_loss_b"].item() == pytest.approx(side_b.item(), rel=1e-5)
    loss.backward()
    assert all(p.grad is None for p in g.parameters())  # D judges detached fakes
    assert all(p.grad is not None for p in d.parameters())


@pytest.mark.parametrize("identity", [0.5, 0.0])
def test_the_generators_loss_is_adversarial_plus_cycle_plus_identity(identity):
    obj, g, d = objective(identity=identity)
    a, b = batch()
    inputs = obj.prepare((a, b))
    obj(obj.phases[0], inputs)  # D's phase makes the step's fakes, which G's phase reuses
    loss, metrics = obj(obj.phases[1], inputs)
    with torch.no_grad():
        gan = ((d.b(g.ab(a)) - 1) ** 2).mean() + ((d.a(g.ba(b)) - 1) ** 2).mean()
        cycle = (g.ba(g.ab(a)) - a).abs().mean() + (g.ab(g.ba(b)) - b).abs().mean()
        same = (g.ab(b) - b).abs().mean() + (g.ba(a) - a).abs().mean()
    expected = gan + 10 * cycle + 10 * identity * same
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)
    assert metrics["g_cycle"].item() == pytest.approx(cycle.item() / 2, rel=1e-5)
    assert metrics["g_gan"].item() == pytest.approx(gan.item() / 2, rel=1e-5)
    assert ("g_identity" in metrics) == bool(identity)


def test_cycle_consistency_trains_both_generators():
    obj, g, d = objective(identity=0.0)
    a, b = batch()
    fake_b = g.ab(a)
    (g.ba(fake_b) - a).abs().mean().backward()  # A's cycle alone: through ab, then ba
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in g.ab.net[1].parameters())
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in g.ba.net[1].parameters())


def test_each_discriminator_judges_fakes_from_its_own_pool():
    """With a full pool and a chance of 1, D sees only kept fakes: here a constant image per side."""
    obj, g, d = objective(replay_size=2, replay_prob=1.0)
    kept = {"a": torch.full((2, 3, 32, 32), 0.25), "b": torch.full((2, 3, 32, 32), -0.5)}
    for side, pool in obj.pools.items():
        pool.fakes, pool.count = kept[side].clone(), 2
    assert obj.graph_ready()
    a, b = batch()
    _, metrics = obj(obj.phases[0], obj.prepare((a, b)))
    with torch.no_grad():
        assert metrics["D_fake_b"].item() == pytest.approx(d.b(kept["b"]).mean().item(), rel=1e-5)
        assert metrics["D_fake_a"].item() == pytest.approx(d.a(kept["a"]).mean().item(), rel=1e-5)
        made, kept_now = g.ab(a).flatten(1), obj.pools["b"].fakes.flatten(1)  # in the slots drawn for them
        assert torch.allclose(made[made.sum(1).argsort()], kept_now[kept_now.sum(1).argsort()], atol=1e-6)
    assert set(obj.components()) == {"pool_a", "pool_b"}


def test_a_cyclegan_run_rolled_back_resumes_to_the_bit(tmp_path):
    """Four networks (two in g, two in d), their two optimisers, both image pools and the linear decay:
    rolled back to its step-4 checkpoint and trained on, a run ends where it ended."""
    import ganforge
    from ganforge.runs.checkpoint import load_checkpoint

    over = ["model.width=4", "model.blocks=1", "data.image_size=32", "train.batch_size=2", "train.replay_size=4",
            "train.checkpoint_every=4", "train.log_every=2", "train.sample_every=8", "train.grid_size=2"]  # fmt: skip
    run = ganforge.train("cyclegan", steps=8, out=tmp_path / "r", quiet=True, overrides=over)
    ended = load_checkpoint(run.checkpoint)
    ganforge.train(resume=run.dir, checkpoint="step_4", quiet=True)
    again = load_checkpoint(run.checkpoint)
    assert again["step"] == 8 and {"g", "d", "pool_a", "pool_b", "opt_g", "opt_d"} <= set(again)
    for name in ("g", "d"):
        assert all(torch.equal(ended[name][k], again[name][k]) for k in ended[name]), name
    assert torch.equal(ended["pool_b"]["fakes"], again["pool_b"]["fakes"])
    assert ended["opt_g"]["param_groups"][0]["lr"] == again["opt_g"]["param_groups"][0]["lr"]


def test_the_grid_takes_as_many_held_out_images_as_the_smaller_side_holds(tmp_path):
    """testA/ with 3 images and testB/ with 2: the grid shows 2 of each, not an index past B's end."""
    from ganforge.api import resolve_config
    from ganforge.train.cycle import UnpairedTask
    from tests.data.test_unpaired import _folder

    _folder(tmp_path, prefix="train")
    _folder(tmp_path, prefix="test")  # 3 images in testA, 2 in testB
    cfg = resolve_config("cyclegan", data=str(tmp_path), overrides=["data.image_size=32", "train.grid_size=8"])
    a, b = UnpairedTask(cfg).fixed_inputs()
    assert a.shape == b.shape == (2, 3, 32, 32)
