"""Training state as components: resume exactness at any step, wrappers stripped, old checkpoints read."""

import json
import random

import numpy as np
import pytest
import torch
from torch import nn

import ganforge
from ganforge.errors import UserError
from ganforge.train.monitor import MACHINE_KEYS
from ganforge.train.state import Network, RandomStreams, TrainingState, Value, unwrap
from tests.conftest import tiny_overrides
from tests.train.test_loop import write_folder


def same(a, b) -> bool:
    """Equal, tensors bit for bit, through nested dicts, lists and tuples."""
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and a.dtype == b.dtype and torch.equal(a, b)
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return isinstance(b, (list, tuple)) and len(a) == len(b) and all(map(same, a, b))
    return a == b


def _metrics(run):
    rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    return [{k: v for k, v in r.items() if k not in MACHINE_KEYS} for r in rows]


def _weights(run):
    return torch.load(run / "checkpoints" / "latest.pt", weights_only=True)


@pytest.mark.parametrize("d_steps", [1, 2])
def test_resume_between_log_lines_gives_the_same_log_weights_and_samples(tmp_path, d_steps):
    """log_every 4, checkpoints every 5: stop at 7 (inside a log window), resume to 13."""
    data = write_folder(tmp_path / "imgs")  # 24 images: 3 batches an epoch, so the runs cross epochs
    over = [*tiny_overrides(), "train.log_every=4", "train.checkpoint_every=5", f"train.d_steps={d_steps}"]
    opts = dict(data=data, overrides=over, quiet=True)
    ganforge.train("dcgan", steps=13, out=tmp_path / "straight", **opts)
    ganforge.train("dcgan", steps=7, out=tmp_path / "split", **opts)
    assert [r["step"] for r in _metrics(tmp_path / "split")] == [4, 7]  # the unfinished window's line
    ganforge.train(resume=tmp_path / "split", steps=13, quiet=True)

    a, b = _weights(tmp_path / "straight"), _weights(tmp_path / "split")
    assert a["progress"] == b["progress"] == {"step": 13, "batches": 13 * d_steps}
    for component in ("g", "d", "opt_g", "opt_d", "sched_g", "sched_d", "rng", "monitor"):
        assert same(a[component], b[component]), component
    assert _metrics(tmp_path / "straight") == _metrics(tmp_path / "split")
    assert [r["step"] for r in _metrics(tmp_path / "straight")] == [4, 8, 12, 13]
    straight_grids = {p.name for p in (tmp_path / "straight" / "samples").iterdir()}
    split_grids = {p.name for p in (tmp_path / "split" / "samples").iterdir()}
    assert split_grids - straight_grids == {"step_0000007.png"}  # the first part's own last grid
    for name in straight_grids:
        assert (tmp_path / "straight" / "samples" / name).read_bytes() == (
            tmp_path / "split" / "samples" / name
        ).read_bytes(), name


def test_resume_from_a_kept_checkpoint_inside_a_window(tmp_path):
    """A run killed after its step-5 checkpoint (log lines up to 8 on disk) continues from step 5 and
    rewrites the log as an uninterrupted run would."""
    over = [*tiny_overrides(), "train.log_every=4", "train.checkpoint_every=5"]
    ganforge.train("dcgan", data="digits", steps=8, out=tmp_path / "straight", overrides=over, quiet=True)
    run = tmp_path / "killed"
    ganforge.train("dcgan", data="digits", steps=8, out=run, overrides=over, quiet=True)
    (run / "checkpoints" / "step_0000005.pt").replace(run / "checkpoints" / "latest.pt")  # as if killed at 6
    ganforge.train(resume=run, steps=8, quiet=True)
    assert _metrics(run) == _metrics(tmp_path / "straight")
    assert same(_weights(run)["d"], _weights(tmp_path / "straight")["d"])


def test_checkpoints_of_compiled_and_ddp_networks_load_into_plain_modules(tmp_path):
    torch.distributed.init_process_group("gloo", init_method=f"file://{tmp_path / 'store'}", rank=0, world_size=1)
    try:
        plain = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
        for wrapped in (torch.compile(plain), nn.parallel.DistributedDataParallel(plain), torch.compile(plain)):
            state = TrainingState()
            state.add("net", wrapped)
            saved = state.state_dict()["net"]
            assert list(saved) == list(plain.state_dict())  # no _orig_mod. or module. prefixes
            assert unwrap(wrapped) is plain
        fresh = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
        Network(fresh).load_state_dict(saved)
        assert same(fresh.state_dict(), plain.state_dict())
    finally:
        torch.distributed.destroy_process_group()


def test_random_streams_round_trip_through_a_checkpoint_file(tmp_path):
    streams = RandomStreams()
    torch.save(streams.state_dict(), tmp_path / "rng.pt")
    expected = (torch.rand(3), np.random.rand(3), random.random())
    torch.rand(5), np.random.rand(5), random.random()
    streams.load_state_dict(torch.load(tmp_path / "rng.pt", weights_only=True))
    again = (torch.rand(3), np.random.rand(3), random.random())
    assert torch.equal(expected[0], again[0]) and np.array_equal(expected[1], again[1]) and expected[2] == again[2]


def test_a_checkpoint_without_a_component_is_refused_by_name():
    state = TrainingState()
    state.add("ema", Value(1))
    state.add("fixed", Value(2))
    with pytest.raises(UserError, match="holds no ema"):
        state.load_state_dict({"fixed": 3}, "latest.pt")


def test_runs_written_before_version_2_still_load_and_resume(tmp_path):
    """A 0.1 run: config with `task` and a flat model section, checkpoint without progress or monitor."""
    run = ganforge.train("unet-restore", steps=2, out=tmp_path / "old", quiet=True, overrides=V2_TINY_UNET).dir
    cfg = json.loads((run / "config.json").read_text())
    del cfg["version"]
    cfg["task"] = "paired"
    cfg["model"] = V1_MODEL
    (run / "config.json").write_text(json.dumps(cfg))
    ckpt = torch.load(run / "checkpoints" / "latest.pt", weights_only=True)
    for key in ("progress", "monitor", "health"):
        del ckpt[key]
    torch.save(ckpt, run / "checkpoints" / "latest.pt")

    assert ganforge.load(run, device="cpu").translate(torch.zeros(1, 3, 32, 32)).shape == (1, 3, 32, 32)
    resumed = ganforge.train(resume=run, steps=3, quiet=True)
    assert resumed.step == 3 and resumed.config.model.d_width == 4


V2_TINY_UNET = ["model.n_channels=16", "model.n_levels=2", "model.d_width=4", "data.image_size=32"]
V1_MODEL = {
    "family": "unet",
    "latent_dim": 100,
    "width": 4,  # 0.1's unet read model.width as its discriminator's width
    "leaky_slope": 0.2,
    "d_dropout": 0.3,
    "g_dropout": 0.5,
    "init": "torch",
    "d_conditional": False,
    "n_levels": 2,
    "padding": True,
    "batch_norm": False,
    "up_mode": "upsample",
    "n_channels": 16,
}
