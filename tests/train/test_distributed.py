"""Several processes started by torchrun (gloo on this CPU) train as one process with the same global batch,
and a run moves between process counts on resume.

The runs are seed 002's restoration U-Net, small, with a blur as the degradation: nothing in a step is
random, so that two processes (each with its half of the global batch, its own random streams) must give
what one process gives, up to the order of floating-point sums.
"""

import json
import os
import subprocess
import sys

import pytest
import torch

import ganforge
from ganforge.runs.checkpoint import load_checkpoint

TOLERANCE = 1e-4  # largest weight difference after 6 Adam steps; float32 sums in another order give ~1e-6
SMALL = [
    "model.n_levels=2", "model.n_channels=8", "model.d_width=4", "data.image_size=16", "data.degrade=blur=1",
    "train.batch_size=8", "train.log_every=2", "train.sample_every=6", "train.checkpoint_every=3",
    "health.diversity_samples=0", "train.precision=fp32",  # the sums' order, not bfloat16's rounding
]  # fmt: skip


def ganforge_train(out, *args, processes=1, steps=6, extra=()):
    """`ganforge train` in `processes` processes (torchrun from 2 on); returns the run folder."""
    sets = [x for o in [*SMALL, *extra] for x in ("--set", o)]
    launcher = [sys.executable, "-m", "ganforge"]
    if processes > 1:
        launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}",
                    "-m", "ganforge"]  # fmt: skip
    cmd = [*launcher, "train", *args, "--steps", str(steps), "--quiet"]
    cmd += ["--out", str(out), "unet-restore", *sets] if "--resume" not in args else []
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    (out.parent / "stdout.txt").write_text(done.stdout)  # what the command printed, beside the run
    return out


def largest_difference(a, b, net="g"):
    wa = load_checkpoint(a / "checkpoints" / "latest.pt")[net]
    wb = load_checkpoint(b / "checkpoints" / "latest.pt")[net]
    assert list(wa) == list(wb)
    return max((wa[k].float() - wb[k].float()).abs().max().item() for k in wa)


def rows(run):
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def one_process(tmp_path_factory):
    return ganforge_train(tmp_path_factory.mktemp("one") / "run")


@pytest.fixture(scope="module")
def two_processes(tmp_path_factory):
    return ganforge_train(tmp_path_factory.mktemp("two") / "run", processes=2)


def test_two_processes_train_as_one_with_the_same_global_batch(one_process, two_processes):
    assert largest_difference(one_process, two_processes, "g") < TOLERANCE
    assert largest_difference(one_process, two_processes, "d") < TOLERANCE
    a, b = rows(one_process), rows(two_processes)
    assert [r["step"] for r in a] == [r["step"] for r in b] == [2, 4, 6]  # one writer: no line twice
    for ra, rb in zip(a, b, strict=True):  # each line is the mean over the processes
        assert ra["d_loss"] == pytest.approx(rb["d_loss"], abs=1e-4)
        assert ra["g_l1"] == pytest.approx(rb["g_l1"], abs=1e-4)
    assert "2 processes" in (two_processes / "log.txt").read_text()
    assert len(list((two_processes / "samples").glob("*.png"))) == 1


def test_only_the_first_process_prints_where_the_run_is(two_processes):
    printed = (two_processes.parent / "stdout.txt").read_text()
    assert printed.count("checkpoint: ") == 1 and printed.count("samples: ") == 1, printed


def test_a_two_process_run_resumed_on_one_process_continues_it(tmp_path, one_process):
    """Saved by 2 processes at step 3, resumed by 1: the same global batch and order from there on."""
    run = ganforge_train(tmp_path / "run", processes=2, steps=3)
    state = load_checkpoint(run / "checkpoints" / "latest.pt")
    assert state["step"] == 3 and len(state["rng"]["ranks"]) == 2  # each process's random streams
    ganforge_train(run, "--resume", str(run), steps=6)
    assert largest_difference(one_process, run) < TOLERANCE
    assert [r["step"] for r in rows(run)] == [2, 4, 6]


def test_a_one_process_run_resumed_on_two_processes_continues_it(tmp_path, one_process):
    run = ganforge_train(tmp_path / "run", steps=3)
    ganforge_train(run, "--resume", str(run), processes=2, steps=6)
    assert largest_difference(one_process, run) < TOLERANCE


def test_sync_batchnorm_normalises_over_the_global_batch(tmp_path):
    """With BatchNorm, each process's own half-batch statistics take the run elsewhere; SyncBatchNorm
    gives the single process's run back."""
    bn = ["model.batch_norm=true"]
    one = ganforge_train(tmp_path / "one", extra=bn)
    synced = ganforge_train(tmp_path / "synced", processes=2, extra=[*bn, "train.sync_batchnorm=true"])
    local = ganforge_train(tmp_path / "local", processes=2, extra=bn)
    assert largest_difference(one, synced) < TOLERANCE
    assert largest_difference(one, local) > 10 * TOLERANCE
    stats = load_checkpoint(synced / "checkpoints" / "latest.pt")["g"]
    reference = load_checkpoint(one / "checkpoints" / "latest.pt")["g"]
    means = [k for k in stats if k.endswith("running_var")]
    assert means and all(torch.allclose(stats[k], reference[k], atol=1e-4) for k in means)


CYCLE = [
    "model.width=8", "model.blocks=1", "data.image_size=32", "train.batch_size=4", "train.replay_size=0",
    "train.precision=fp32", "train.log_every=2",
]  # fmt: skip


def test_a_cyclegan_in_two_processes_trains_both_pairs_of_networks_as_one(tmp_path):
    """Both generators and both discriminators are called through DistributedDataParallel, so both pairs'
    gradients are averaged: two processes translate as one does, both ways (the weights themselves are no
    measure here: the biases before instance norm have no gradient but float noise, which Adam makes into
    full steps)."""
    sets = [x for o in CYCLE for x in ("--set", o)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    runs = {}
    for processes in (1, 2):
        launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
        cmd = [*(launcher if processes > 1 else [sys.executable]), "-m", "ganforge", "train", "cyclegan-shapes",
               "--steps", "6", "--quiet", "--out", str(tmp_path / str(processes)), *sets]  # fmt: skip
        done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
        assert done.returncode == 0, done.stderr[-3000:]
        runs[processes] = ganforge.load(tmp_path / str(processes), device="cpu")
    x = torch.rand(4, 3, 32, 32, generator=torch.Generator().manual_seed(0)) * 2 - 1
    for direction in ("AtoB", "BtoA"):
        one, two = (runs[p].translate(x, direction=direction) for p in (1, 2))
        assert (one - two).abs().max() < 0.02  # each process on its half alone: ~0.1 after 6 steps


def test_a_global_batch_that_does_not_divide_is_refused_in_one_line(tmp_path):
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "ganforge",
           "train", "unet-restore", "--steps", "2", "--out", str(tmp_path / "r"), "--set", "train.batch_size=7",
           *[x for o in SMALL[:5] for x in ("--set", o)]]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode != 0
    assert "train.batch_size=7 is the global batch and must divide among 2 processes" in done.stderr
    assert not (tmp_path / "r").exists()


NAN_ON_ONE_RANK = """
import os, sys
import torch
import ganforge
from ganforge.cli import main
from ganforge.train.hooks import HOOKS, Hook


class NanOnRankOne(Hook):
    # After step 3's update, rank 1's generator weights turn NaN; rank 0's are still finite when the
    # checkpoint of step 3 is due.
    def __init__(self, trainer):
        self.trainer = trainer

    def after_step(self, step, metrics):
        if step == 3 and os.environ.get("RANK") == "1":
            with torch.no_grad():
                next(self.trainer.g.parameters()).fill_(float("nan"))


HOOKS.register("nan-on-rank-one", NanOnRankOne)
sys.exit(main(sys.argv[1:]))
"""


def test_processes_decide_together_whether_the_weights_are_finite(tmp_path):
    """One process's weights turn NaN just before a checkpoint: the processes decide together, so both stop
    on nonfinite at once (rank 0 used to wait in the checkpoint's collective for gloo's 30 minutes); the
    process group's timeout (train.dist_timeout) bounds any other wait."""
    script = tmp_path / "nan_on_rank_one.py"
    script.write_text(NAN_ON_ONE_RANK)
    sets = [x for o in [*SMALL, "train.dist_timeout=60"] for x in ("--set", o)]
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", str(script), "train",
           "unet-restore", "--steps", "6", "--quiet", "--out", str(tmp_path / "run"), *sets]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=300)
    assert done.returncode != 0 and "[nonfinite]" in done.stderr and "Timeout" not in done.stderr, done.stderr[-3000:]
    assert load_checkpoint(tmp_path / "run" / "checkpoints" / "latest.pt")["step"] == 0  # the last good one
