import json

import numpy as np
import pytest
import torch
from PIL import Image

import ganforge
from ganforge.api import resolve_config
from ganforge.train.loop import Trainer
from ganforge.train.monitor import MACHINE_KEYS
from tests.conftest import tiny_overrides


def write_folder(root, n=24, size=20, seed=0):
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        Image.fromarray(rng.integers(0, 255, (size, size + 4, 3), dtype=np.uint8)).save(root / f"{i:03d}.png")
    return root


def tiny_trainer(tmp_path, extra=()):
    cfg = resolve_config("dcgan", data="digits", overrides=[*tiny_overrides(), *extra])
    return Trainer(cfg, tmp_path / "run", quiet=True)


@pytest.mark.filterwarnings("ignore::UserWarning")  # the spy replaces optimizer.step
def test_phase_one_trains_only_d_and_phase_two_only_g(tmp_path):
    t = tiny_trainer(tmp_path)
    g0 = [p.detach().clone() for p in t.g.parameters()]
    seen = {}
    opt_d = t.optimizers["d"].optimizer
    d_step = opt_d.step

    def spy_d_step(*a, **k):
        seen["g_at_d_step"] = [p.detach().clone() for p in t.g.parameters()]
        seen["g_grads_at_d_step"] = [p.grad for p in t.g.parameters()]
        out = d_step(*a, **k)
        seen["d_after"] = [p.detach().clone() for p in t.d.parameters()]
        seen["d_grads"] = [p.grad.clone() for p in t.d.parameters()]
        return out

    opt_d.step = spy_d_step
    calls = []
    generate = t.task.generate

    def spy_generate(*a, **k):
        fake = generate(*a, **k)
        calls.append(fake.requires_grad)
        return fake

    t.task.generate = spy_generate
    t.train_step()
    # phase 1 ran before G changed; phase 2 left D's weights and gradients exactly as phase 1 left them
    assert all(torch.equal(a, b) for a, b in zip(g0, seen["g_at_d_step"], strict=True))
    assert all(torch.equal(a, p) for a, p in zip(seen["d_after"], t.d.parameters(), strict=True))
    assert all(torch.equal(a, p.grad) for a, p in zip(seen["d_grads"], t.d.parameters(), strict=True))
    assert any(not torch.equal(a, p) for a, p in zip(g0, t.g.parameters(), strict=True))
    # one forward of G a step: its fakes, detached, for D (no gradient reaches G), then with G's graph for G
    assert calls == [True]
    assert all(grad is None for grad in seen["g_grads_at_d_step"])
    assert all(p.requires_grad for p in t.d.parameters())


def test_run_directory_holds_config_metrics_samples_plot_checkpoints(tmp_path):
    run = ganforge.train("dcgan", data="digits", steps=8, out=tmp_path / "r", overrides=tiny_overrides(), quiet=True)
    d = run.dir
    assert json.loads((d / "config.json").read_text())["train"]["steps"] == 8
    rows = [json.loads(x) for x in (d / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [2, 4, 6, 8]
    for key in (
        "epoch",
        "d_loss",
        "d_loss_real",
        "d_loss_fake",
        "g_loss",
        "g_gan",
        "D_x",
        "D_G_z",
        "images_per_s",
        "data_wait",
    ):
        assert all(np.isfinite(r[key]) for r in rows), key
    assert sorted(p.name for p in (d / "samples").iterdir()) == ["step_0000004.png", "step_0000008.png"]
    assert Image.open(d / "samples" / "step_0000008.png").size == (2 * 34 + 2, 2 * 34 + 2)
    assert (d / "losses.png").stat().st_size > 1000
    assert {p.name for p in (d / "checkpoints").iterdir()} == {
        "latest.pt",
        "step_0000004.pt",
        "step_0000008.pt",
    }


def _state(run_dir):
    return torch.load(run_dir / "checkpoints" / "latest.pt", weights_only=True)


def test_resume_is_bit_exact(tmp_path):
    data = write_folder(tmp_path / "imgs")  # 24 images, 3 batches an epoch: the runs cross epochs
    opts = dict(data=data, overrides=tiny_overrides(), quiet=True)
    ganforge.train("dcgan", steps=12, out=tmp_path / "straight", **opts)
    ganforge.train("dcgan", steps=6, out=tmp_path / "split", **opts)
    ganforge.train(resume=tmp_path / "split", steps=12, quiet=True)
    a, b = _state(tmp_path / "straight"), _state(tmp_path / "split")
    assert a["step"] == b["step"] == 12
    for net in ("g", "d"):
        for k in a[net]:
            assert torch.equal(a[net][k], b[net][k]), (net, k)
    assert torch.equal(a["fixed"], b["fixed"])

    def losses(run):
        rows = [json.loads(x) for x in (tmp_path / run / "metrics.jsonl").read_text().splitlines()]
        # the sample-step watch also measures at a run's last step (6 for the split run's first part)
        watch = {*MACHINE_KEYS, "near_copies", "diversity", "ndb", "mode_imbalance", "mode_excess"}
        return [{k: v for k, v in r.items() if k not in watch} for r in rows]

    assert losses("straight") == losses("split")


def test_epochs_set_the_number_of_steps(tmp_path):
    data = write_folder(tmp_path / "imgs", n=20)  # 2 full batches of 8 an epoch
    run = ganforge.train("dcgan", data=data, epochs=3, out=tmp_path / "r", overrides=tiny_overrides(), quiet=True)
    assert run.step == 6
    assert run.metrics()[-1]["epoch"] == 3.0


def test_rmsprop_with_clipping_and_decay(tmp_path):
    t = tiny_trainer(
        tmp_path, ["train.d_optim.name=rmsprop", "train.d_optim.clip_value=0.001", "train.d_optim.lr_decay=0.5"]
    )
    t.train_step()
    opt_d = t.optimizers["d"].optimizer
    assert isinstance(opt_d, torch.optim.RMSprop)
    assert max(p.grad.abs().max().item() for p in t.d.parameters()) <= 0.001 + 1e-7
    assert opt_d.param_groups[0]["lr"] == pytest.approx(2e-4 / 1.5)
