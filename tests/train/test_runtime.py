"""The runtime layer (train/runtime.py): precision, memory format and torch.compile, switched by config
keys alone, on the CPU (the CUDA paths: fp16 with its scaler, bf16 by default, run on a GPU only)."""

import pytest
import torch
from torch import nn

import ganforge
from ganforge.config import load_config
from ganforge.runs.checkpoint import load_checkpoint
from ganforge.train import runtime
from ganforge.train.optim import NetOptimizer
from ganforge.train.runtime import Runtime
from tests.conftest import tiny_overrides
from tests.test_cli import assert_one_line_error, run_cli


def train(tmp_path, name, *extra, steps=8, preset="dcgan", data="digits", resume=None):
    if resume is not None:
        return ganforge.train(resume=resume, steps=steps, quiet=True)
    overrides = tiny_overrides() + list(extra) if preset == "dcgan" else list(extra)
    return ganforge.train(preset, data=data, steps=steps, out=tmp_path / name, quiet=True, overrides=overrides)


def weights(run, net="g"):
    return load_checkpoint(run.dir / "checkpoints" / "latest.pt")[net]


def max_difference(a, b):
    return max((a[k].float() - b[k].float()).abs().max().item() for k in a)


@pytest.fixture(scope="module")
def fp32_run(tmp_path_factory):
    return train(tmp_path_factory.mktemp("fp32"), "run", "train.precision=fp32")


@pytest.mark.parametrize(
    "overrides, reason",
    [
        ([], "the device is not CUDA"),
        (["train.g_optim.beta2_start=0.9"], "a ramp of Adam's beta2"),
        (["loss.gan=wgan-gp"], "phases that skip or repeat steps"),
        (["loss.r1=1", "loss.reg_every=16"], "phases that skip or repeat steps"),
    ],
)
def test_a_run_says_from_its_config_why_it_cannot_be_one_cuda_graph(overrides, reason):
    from ganforge.config.overrides import apply_overrides
    from ganforge.train.graphs import unsupported

    cfg = apply_overrides(load_config("dcgan"), overrides)
    cuda = Runtime(torch.device("cuda"), "bf16", True)  # a description only: nothing runs on it
    found = unsupported(cfg, cuda if overrides else Runtime(torch.device("cpu")))
    assert found is not None and reason in found
    assert unsupported(load_config("dcgan"), cuda) is None


def test_the_runs_people_make_can_be_one_cuda_graph():
    """EMA, learning-rate decays and ramps, experience replay, DiffAugment and instance noise: the step
    reads each from the device (their CPU tests: tests/train/test_graph_safe.py)."""
    from ganforge.config.overrides import apply_overrides
    from ganforge.train.graphs import unsupported

    cuda = Runtime(torch.device("cuda"), "bf16", True)
    served = ["train.ema=1000", "train.d_optim.lr_decay=0.001", "train.g_optim.lr_end=0.0001",
              "train.replay_size=64", "data.diffaugment=color,translation,cutout", "data.augment_p=0.8",
              "data.augment_p_end=0.2", "loss.instance_noise=0.1"]  # fmt: skip
    assert unsupported(apply_overrides(load_config("dcgan"), served), cuda) is None
    assert unsupported(load_config("dcgan-128"), cuda) is None  # its RMSprop with a decay
    assert unsupported(load_config("r3gan-digits"), cuda) == "phases that skip or repeat steps"  # lazy R1/R2
    assert unsupported(load_config("srresnet-x4"), cuda) is None  # G alone: one phase, bicubic inputs
    realworld = apply_overrides(load_config("srgan-x4"), ["model.inputs=realworld"])
    assert "real-world inputs" in unsupported(realworld, cuda)


def test_precision_auto_goes_back_to_float32_for_a_step_that_cannot_be_a_graph():
    train_cfg = load_config("dcgan").train
    graph_choice = Runtime(torch.device("cuda"), "bf16", channels_last=True)
    assert graph_choice.eager(train_cfg) == Runtime(torch.device("cuda"), "fp32", channels_last=False)
    train_cfg.precision = "bf16"  # asked for: kept
    assert graph_choice.eager(train_cfg) is graph_choice


def test_the_default_on_a_cpu_without_native_bfloat16_is_plain_float32(monkeypatch):
    monkeypatch.setattr(runtime, "cpu_bfloat16", lambda: None)
    r = Runtime.from_config(load_config("dcgan"))
    assert (r.device.type, r.precision, r.channels_last, r.compile) == ("cpu", "fp32", False, False)
    assert "no native bfloat16" in r.describe()
    assert not torch.is_autocast_enabled("cpu")
    with r.autocast():
        assert not torch.is_autocast_enabled("cpu")


def test_auto_takes_bfloat16_on_a_cpu_that_has_it_where_the_family_gains(monkeypatch):
    monkeypatch.setattr(runtime, "cpu_bfloat16", lambda: "AMX-BF16")
    for preset in ("dcgan", "dcgan-mnist", "pix2pix", "unet-restore"):
        r = Runtime.from_config(load_config(preset))
        assert (r.precision, r.channels_last) == ("bf16", True), preset
        assert "bf16 (auto: this CPU has AMX-BF16), channels_last" in r.describe()
        assert r.eager(load_config(preset).train) is r  # a CPU has no graph to fall back from
    r3gan = Runtime.from_config(load_config("r3gan-digits"))
    assert r3gan.precision == "fp32" and "r3gan trains faster in float32" in r3gan.describe()
    cfg = load_config("dcgan")
    cfg.train.precision, cfg.train.channels_last = "fp32", "auto"  # asked for: kept, and NCHW with it
    assert (Runtime.from_config(cfg).precision, Runtime.from_config(cfg).channels_last) == ("fp32", False)


def test_native_bfloat16_is_read_from_the_cpu_flags(tmp_path):
    from ganforge.devices import cpu_bfloat16

    def flags(*names):
        path = tmp_path / "cpuinfo"
        lines = [f"processor\t: {i}\nflags\t\t: fpu sse2 avx2 {' '.join(names)}\n\n" for i in range(2)]
        path.write_text("".join(lines))
        return cpu_bfloat16(path)

    assert flags("avx512f", "avx512_bf16") == "AVX512-BF16"
    assert flags("avx512_bf16", "amx_tile", "amx_bf16") == "AMX-BF16"
    assert flags("avx512f", "avx512_vnni") is None


def test_bf16_autocasts_the_forward_passes_and_trains_finite(tmp_path, fp32_run):
    cfg = load_config("dcgan")
    cfg.train.precision = "bf16"
    r = Runtime.from_config(cfg)
    with r.autocast():
        assert nn.Conv2d(3, 4, 3)(torch.randn(1, 3, 8, 8)).dtype == torch.bfloat16
    run = train(tmp_path, "bf16", "train.precision=bf16")
    rows = run.metrics()
    assert all(torch.isfinite(torch.tensor([r["d_loss"], r["g_loss"]])).all() for r in rows)
    assert weights(run)["net.1.weight"].dtype == torch.float32  # the weights stay float32
    assert 1e-6 < max_difference(weights(run), weights(fp32_run)) < 0.05  # rounded forward passes, same course
    assert "cpu, bf16, channels_last" in (run.dir / "log.txt").read_text()  # NHWC with bf16 on a CPU too
    assert r.channels_last


def test_pix2pix_at_batch_1_trains_under_bf16(tmp_path):
    """Its Keras-style bottleneck BatchNorm (a 1x1 map at batch 1) updates float32 running statistics from
    bfloat16 activations."""
    run = train(
        tmp_path, "p2p", "train.precision=bf16", "model.width=8", "data.image_size=32", "train.log_every=2",
        preset="pix2pix", data="shapes", steps=4,
    )  # fmt: skip
    assert all(torch.isfinite(torch.tensor(r["g_loss"])) for r in run.metrics())
    floats = [t for t in weights(run).values() if t.is_floating_point()]
    assert all(t.dtype == torch.float32 and torch.isfinite(t).all() for t in floats)


def test_a_bf16_run_resumes_bit_exactly(tmp_path):
    whole = train(tmp_path, "whole", "train.precision=bf16")
    train(tmp_path, "part", "train.precision=bf16", steps=4)
    resumed = train(tmp_path, "part", steps=8, resume=tmp_path / "part")
    assert max_difference(weights(whole), weights(resumed)) == 0


def test_channels_last_trains_the_same_networks(tmp_path, fp32_run):
    run = train(tmp_path, "cl", "train.channels_last=on", "train.precision=fp32")
    assert max_difference(weights(run), weights(fp32_run)) < 1e-4
    assert list(weights(run)) == list(weights(fp32_run))
    r = Runtime(torch.device("cpu"), channels_last=True)
    assert r.images(torch.zeros(2, 3, 8, 8)).is_contiguous(memory_format=torch.channels_last)
    conv = r.prepare(nn.Sequential(nn.Conv2d(3, 4, 3)))[0]
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)


def test_compiled_networks_train_alike_and_save_plain_keys(tmp_path, fp32_run):
    """torch.compile on the CPU (about half a minute of compiling for this tiny run), with R1 and R2, whose
    double backward torch.compile cannot take: they go through D's eager forward."""
    penalties = ["loss.gan=rpgan", "loss.r1=1", "loss.r2=1", "loss.reg_every=2", "train.precision=fp32"]
    run = train(tmp_path, "compiled", "train.compile=true", *penalties, steps=3)
    eager = train(tmp_path, "eager", *penalties, steps=3)
    assert list(weights(run)) == list(weights(eager)) and list(weights(run, "d")) == list(weights(eager, "d"))
    assert max_difference(weights(run), weights(eager)) < 1e-4
    assert "compiling the networks" in (run.dir / "log.txt").read_text()
    assert ganforge.load(run.dir, device="cpu").sample(2, seed=0).shape == (2, 3, 32, 32)


def test_a_loss_scaler_leaves_the_step_as_it_was():
    """fp16's scaler multiplies the loss and divides the gradients back before clipping and the step."""
    from ganforge.config import OptimConfig

    def one_step(scaler):
        torch.manual_seed(0)
        net = nn.Linear(4, 1)
        opt = NetOptimizer(net, OptimConfig(clip_value=0.05), scaler=scaler)
        opt.zero_grad()
        opt.backward(net(torch.randn(8, 4)).pow(2).mean())
        norm = opt.step(measure=True)
        return net.weight.detach().clone(), norm

    plain, plain_norm = one_step(None)
    scaled, scaled_norm = one_step(torch.amp.GradScaler("cpu", init_scale=1024.0))
    assert torch.allclose(plain, scaled, atol=1e-7) and torch.allclose(plain_norm, scaled_norm, rtol=1e-5)


def test_fp16_on_the_cpu_is_refused_in_one_line(capsys, tmp_path):
    sets = [x for o in [*tiny_overrides(), "train.precision=fp16"] for x in ("--set", o)]
    code, _, err = run_cli(capsys, "train", "dcgan", "--data", "digits", "--steps", "2", "--out", tmp_path / "r", *sets)
    assert_one_line_error(code, err, "train.precision=fp16", "bf16")
    assert not (tmp_path / "r").exists()


def test_cuda_graphs_on_the_cpu_train_eagerly_and_say_why(tmp_path):
    run = train(tmp_path, "graphs", "train.cuda_graphs=true", steps=2)
    assert "train.cuda_graphs is off for this run: the device is not CUDA" in (run.dir / "log.txt").read_text()


@pytest.mark.parametrize("preset", ["dcgan", "unet-restore"])
def test_losses_stay_float32_under_bfloat16_autocast(tmp_path, preset):
    """The networks run in bfloat16, what they are judged by does not: the adversarial losses, L1, SSIM,
    GMSD and TV, and every metric logged, come out float32."""
    from ganforge.api import resolve_config
    from ganforge.train.loop import Trainer

    over = ["train.precision=bf16", "train.batch_size=4", "data.image_size=32"]
    if preset == "dcgan":
        over += ["model.width=8"]
    else:
        over += ["model.n_levels=2", "model.n_channels=16", "loss.ssim=1", "loss.gmsd=1", "loss.tv=1"]
    t = Trainer(
        resolve_config(preset, data="digits" if preset == "dcgan" else None, overrides=over), tmp_path, quiet=True
    )
    inputs = t.next_inputs()
    for phase in t.objective.phases:
        with t.runtime.autocast():
            fake = t.objective._fakes(*inputs)
            loss, metrics = t.objective(phase, inputs)
        assert fake.dtype == torch.bfloat16  # the forward passes did run in bfloat16
        assert loss.dtype == torch.float32 and {v.dtype for v in metrics.values()} == {torch.float32}, phase.name
        if phase.name == "G" and preset == "unet-restore":
            assert {"g_l1", "g_ssim", "g_gmsd", "g_tv"} <= set(metrics)
