"""The CUDA paths, on a GPU only (benchmarks/gpu_check.sh runs them where one is lent): every preset under
the CUDA defaults (TF32, channels_last; bfloat16 in a graph), fp16 with its loss scaler, torch.compile, a step that
never waits on the host, and resume on the device."""

import warnings
from pathlib import Path

import pytest
import torch

import ganforge
from ganforge.api import resolve_config
from ganforge.runs.checkpoint import load_checkpoint
from ganforge.train.loop import Trainer

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")

DATA = {"dcgan-mnist": "digits", "dcgan": "digits", "dcgan-128": "digits", "pix2pix": "shapes", "unet-restore": None,
        "cyclegan-shapes": "shapes"}  # fmt: skip


def weights(run, net="g"):
    return load_checkpoint(run.dir / "checkpoints" / "latest.pt")[net]


@pytest.mark.parametrize("preset", list(DATA))
def test_each_preset_trains_under_the_cuda_defaults(tmp_path, preset):
    run = ganforge.train(preset, data=DATA[preset], steps=6, out=tmp_path / preset, quiet=True,
                         overrides=["train.log_every=2", "train.sample_every=6"])  # fmt: skip
    assert "cuda, fp32" in (run.dir / "log.txt").read_text()
    rows = run.metrics()
    assert len(rows) == 3 and all(torch.isfinite(torch.tensor([r["d_loss"], r["g_loss"]])).all() for r in rows)
    floats = [t for t in weights(run).values() if t.is_floating_point()]
    assert all(t.dtype == torch.float32 and torch.isfinite(t).all() for t in floats)


def test_fp16_trains_with_a_loss_scaler(tmp_path):
    run = ganforge.train("dcgan-mnist", data="digits", steps=6, out=tmp_path / "fp16", quiet=True,
                         overrides=["train.precision=fp16", "train.log_every=2"])  # fmt: skip
    state = load_checkpoint(run.dir / "checkpoints" / "latest.pt")
    assert state["scaler_g"]["scale"] > 0 and state["scaler_d"]["scale"] > 0
    assert all(torch.isfinite(torch.tensor(r["g_loss"])) for r in run.metrics())


def test_compiled_on_the_gpu_saves_plain_keys(tmp_path):
    run = ganforge.train("dcgan-mnist", data="digits", steps=4, out=tmp_path / "c", quiet=True,
                         overrides=["train.compile=true", "train.log_every=2"])  # fmt: skip
    assert not any("_orig_mod" in k for k in weights(run))
    assert "compiling the networks" in (run.dir / "log.txt").read_text()
    assert ganforge.load(run.dir).sample(4, seed=0).shape == (4, 1, 28, 28)


@pytest.mark.parametrize("preset", ["dcgan-mnist", "pix2pix"])
def test_a_training_step_never_waits_on_the_host(tmp_path, preset):
    """CUDA's sync debug mode reports every operation that makes the host wait for the device: the data's
    copy, the jitter, the phases and the monitor's per-step bookkeeping must make none."""
    cfg = resolve_config(preset, overrides={"data.name": DATA[preset], "train.epochs": 0, "train.log_every": 1000})
    t = Trainer(cfg, Path(tmp_path) / "run", quiet=True)
    for _ in range(2):
        t.monitor.update(t.train_step())
        t.progress.step += 1
    torch.cuda.synchronize()
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        torch.cuda.set_sync_debug_mode("warn")
        try:
            for _ in range(3):
                t.monitor.update(t.train_step())
                t.progress.step += 1
        finally:
            torch.cuda.set_sync_debug_mode("default")
    syncs = [
        f"{w.filename}:{w.lineno}: {w.message}"
        for w in seen
        if "synchroniz" in str(w.message) and "prototype feature" not in str(w.message)  # the mode's own notice
    ]
    assert not syncs, "\n".join(syncs)


def test_batches_stay_channels_last_through_the_jitter(tmp_path):
    cfg = resolve_config("pix2pix", overrides={"data.name": "shapes", "train.epochs": 0, "train.channels_last": "on"})
    t = Trainer(cfg, Path(tmp_path) / "run", quiet=True)
    inp, target = t.task.split(next(t.stream))
    assert inp.is_cuda and inp.is_contiguous(memory_format=torch.channels_last)
    assert target.is_contiguous(memory_format=torch.channels_last)


def test_a_resumed_cuda_run_continues_it(tmp_path):
    """On the GPU, cuDNN's kernels may sum in another order from run to run: the resumed weights match the
    uninterrupted run's to float32 rounding, not bit for bit (the CPU's test asks for bit-exactness)."""
    common = dict(data="digits", quiet=True, overrides=["train.log_every=2", "train.checkpoint_every=4"])
    whole = ganforge.train("dcgan-mnist", steps=8, out=tmp_path / "whole", **common)
    ganforge.train("dcgan-mnist", steps=4, out=tmp_path / "part", **common)
    resumed = ganforge.train(resume=tmp_path / "part", steps=8, quiet=True)
    a, b = weights(whole), weights(resumed)
    difference = max((a[k].float() - b[k].float()).abs().max().item() for k in a)
    print(f"resumed against uninterrupted, largest weight difference: {difference:.3g}")
    assert difference < 1e-3


def test_a_step_replayed_as_a_cuda_graph_trains(tmp_path):
    """The first steps run eagerly, then the step is captured and replayed: its weights keep moving, its
    metrics are each step's own, and its samples come from the same networks as eager ones would."""
    over = ["train.cuda_graphs=true", "train.log_every=2", "train.checkpoint_every=6"]
    run = ganforge.train("dcgan-mnist", data="digits", steps=12, out=tmp_path / "g", quiet=True, overrides=over)
    log = (run.dir / "log.txt").read_text()
    assert "cuda, bf16, channels_last, CUDA graphs" in log and "off for this run" not in log
    state6 = load_checkpoint(run.dir / "checkpoints" / "step_0000006.pt")["g"]
    state12 = weights(run)
    assert any(not torch.equal(state6[k], state12[k]) for k in state6 if state6[k].is_floating_point())
    rows = run.metrics()
    assert len({r["d_loss"] for r in rows}) == len(rows) and all(
        torch.isfinite(torch.tensor(r["d_loss"])) for r in rows
    )
    eager = ganforge.train("dcgan-mnist", data="digits", steps=12, out=tmp_path / "e", quiet=True,
                           overrides=over[1:])  # fmt: skip
    difference = max((state12[k].float() - weights(eager)[k].float()).abs().max().item() for k in state12)
    print(f"graph against eager after 12 steps, largest weight difference: {difference:.3g}")
    assert difference < 0.05  # the same course (the random draws may differ in the graph)


def test_pix2pix_replays_its_jitter_and_dropout_in_a_graph(tmp_path):
    run = ganforge.train("pix2pix", data="shapes", steps=8, out=tmp_path / "p", quiet=True,
                         overrides=["train.cuda_graphs=true", "data.jitter=true"])  # fmt: skip
    assert all(torch.isfinite(torch.tensor(r["g_loss"])) for r in run.metrics())
    assert "CUDA graphs" in (run.dir / "log.txt").read_text()


def test_a_cyclegan_replays_its_four_networks_and_two_pools_in_a_graph(tmp_path):
    """Both image pools fill eagerly (50 fakes each at 4 a step: 13 steps), then the step is captured."""
    over = ["train.cuda_graphs=true", "train.log_every=2", "train.checkpoint_every=10"]
    run = ganforge.train("cyclegan-shapes", steps=20, out=tmp_path / "c", quiet=True, overrides=over)
    log = (run.dir / "log.txt").read_text()
    assert "CUDA graphs" in log and "off for this run" not in log and "could not be captured" not in log
    at10, at20 = load_checkpoint(run.dir / "checkpoints" / "step_0000010.pt"), load_checkpoint(run.checkpoint)
    assert not torch.equal(at10["pool_b"]["fakes"], at20["pool_b"]["fakes"])  # the replays traded fakes
    assert all(torch.isfinite(torch.tensor(r["g_loss"])) for r in run.metrics())


def test_a_run_a_graph_cannot_hold_says_why_and_trains_eagerly(tmp_path):
    run = ganforge.train("dcgan-mnist", data="digits", steps=4, out=tmp_path / "b2", quiet=True,
                         overrides=["train.cuda_graphs=true", "train.g_optim.beta2_start=0.9",
                                    "train.log_every=2"])  # fmt: skip
    log = (run.dir / "log.txt").read_text()
    assert "train.cuda_graphs is off for this run: a ramp of Adam's beta2" in log
    assert "cuda, fp32" in log  # precision auto chose bf16 for the graph; the eager step is faster in fp32


# what the modern recipes and the seeds' remedies turn on: each read from the device by the graphed step
SERVED = ["train.ema=500", "train.g_optim.lr_end=0.0001", "train.d_optim.lr_decay=0.01", "train.replay_size=64",
          "data.diffaugment=color,translation,cutout", "data.augment_p=0.9", "data.augment_p_end=0.2",
          "loss.instance_noise=0.1", "loss.instance_noise_steps=8", "train.precision=bf16",
          "train.log_every=2", "train.checkpoint_every=6"]  # fmt: skip


def test_ema_schedules_replay_diffaugment_and_noise_replay_in_a_graph_as_they_run_eagerly(tmp_path):
    """The replay buffer fills eagerly (two steps of 32 in 64), then the step is captured: the graphed run
    follows the eager one (to bfloat16's rounding and the graph's random draws), its learning rates are
    the eager run's, and its EMA and replay buffer moved on in the replays."""
    common = dict(data="digits", steps=12, quiet=True)
    graphed = ganforge.train("dcgan-mnist", out=tmp_path / "g", overrides=["train.cuda_graphs=true", *SERVED], **common)
    eager = ganforge.train("dcgan-mnist", out=tmp_path / "e", overrides=SERVED, **common)
    log = (graphed.dir / "log.txt").read_text()
    assert "CUDA graphs" in log and "off for this run" not in log and "could not be captured" not in log
    a, b = load_checkpoint(graphed.checkpoint), load_checkpoint(eager.checkpoint)
    for net in ("g", "d", "g_ema"):
        difference = max((a[net][k].float() - b[net][k].float()).abs().max().item() for k in a[net])
        print(f"{net}: graph against eager after 12 steps, largest weight difference: {difference:.3g}")
        assert difference < 0.05, net
    for opt in ("opt_g", "opt_d"):  # the ramp (G) and the decay (D) reached the graph
        assert a[opt]["param_groups"][0]["lr"] == pytest.approx(b[opt]["param_groups"][0]["lr"], rel=1e-6)
    at6 = load_checkpoint(graphed.dir / "checkpoints" / "step_0000006.pt")
    assert not torch.equal(at6["replay"]["fakes"], a["replay"]["fakes"])  # the replays traded fakes
    assert not torch.equal(at6["g_ema"]["project.0.weight"], a["g_ema"]["project.0.weight"])


def test_a_graphed_run_with_the_served_pieces_resumes(tmp_path):
    over = ["train.cuda_graphs=true", *SERVED]
    whole = ganforge.train("dcgan-mnist", data="digits", steps=12, out=tmp_path / "w", quiet=True, overrides=over)
    ended = load_checkpoint(whole.checkpoint)
    ganforge.train(resume=whole.dir, checkpoint="step_6", quiet=True)
    again = load_checkpoint(whole.checkpoint)
    for net in ("g", "d", "g_ema"):
        difference = max((ended[net][k].float() - again[net][k].float()).abs().max().item() for k in ended[net])
        print(f"{net}: resumed graphed run against unbroken, largest weight difference: {difference:.3g}")
        assert difference < 0.05, net


def test_a_graphed_run_evaluates_during_training_and_resumes(tmp_path):
    """Evaluation between replays samples the live networks, and a resumed graphed run captures again and
    follows the uninterrupted one (to the device's rounding and the graph's random draws)."""
    over = ["train.cuda_graphs=true", "train.log_every=2", "train.checkpoint_every=6", "eval.every=6",
            "eval.images=200", "eval.best_metric=fid"]  # fmt: skip
    common = dict(data="digits", quiet=True, overrides=over)
    whole = ganforge.train("dcgan-mnist", steps=12, out=tmp_path / "whole", **common)
    rows = {r["step"]: r for r in whole.metrics()}
    assert all(torch.isfinite(torch.tensor(rows[s]["eval_fid"])) for s in (6, 12))
    assert rows[6]["eval_fid"] != rows[12]["eval_fid"]  # the evaluation saw the weights the replays moved
    ganforge.train("dcgan-mnist", steps=6, out=tmp_path / "part", **common)
    resumed = ganforge.train(resume=tmp_path / "part", steps=12, quiet=True)
    log = (resumed.dir / "log.txt").read_text()
    assert log.count("CUDA graphs") >= 2 and "off for this run" not in log
    a, b = weights(whole), weights(resumed)
    difference = max((a[k].float() - b[k].float()).abs().max().item() for k in a)
    print(f"graphed run resumed against uninterrupted, largest weight difference: {difference:.3g}")
    assert difference < 0.05
