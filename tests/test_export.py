"""`ganforge export`: each family's generator as ONNX, run by onnxruntime, and as TorchScript, equal to
PyTorch's own run of the inference contract to within 1e-4, with a dynamic batch (and, for the padded
U-Net, dynamic height and width); an unpaired run's either generator (`--direction`)."""

import pytest
import torch

import ganforge
from ganforge.models.contract import InferenceContract
from tests.test_cli import assert_one_line_error, run_cli

ort = pytest.importorskip("onnxruntime")

FAMILIES = {
    "dcgan-mnist": ("digits", ["model.width=8"]),
    "dcgan": ("digits", ["model.width=8", "data.image_size=32"]),
    "dcgan-128": ("digits", ["model.width=4"]),
    "pix2pix": ("shapes", ["model.width=8", "data.image_size=32"]),
    "unet-restore": (None, ["model.n_levels=2", "model.n_channels=8", "model.d_width=4", "data.image_size=16"]),
    "cyclegan": ("shapes", ["model.width=8", "model.blocks=1", "data.image_size=32"]),
}


@pytest.fixture(scope="module", params=list(FAMILIES))
def run(request, tmp_path_factory):
    data, over = FAMILIES[request.param]
    over = [*over, "train.batch_size=4", "train.log_every=1", "train.grid_size=2"]
    return ganforge.train(request.param, data=data, steps=2, out=tmp_path_factory.mktemp("r") / "run", quiet=True,
                          overrides=over)  # fmt: skip


def reference(run, x, direction=None):
    """PyTorch's outputs under the family's contract, dropout off as in the exported file."""
    g = ganforge.load(run.dir, device="cpu")
    contract = InferenceContract(batch_statistics=g.contract.batch_statistics, dropout=False)
    return contract.run(g.net if direction is None else g.translator(direction), x)


def directions(run):
    """The `--direction` values the run exports: both generators of an unpaired run."""
    return [("AtoB", []), ("BtoA", ["--direction", "BtoA"])] if run.config.task == "unpaired" else [(None, [])]


def inputs(run, n, size=None):
    cfg = run.config
    if cfg.task == "unconditional":
        return torch.randn(n, cfg.model.latent_dim, generator=torch.Generator().manual_seed(n))
    s = size or cfg.data.image_size
    c = cfg.data.in_channels if cfg.task == "paired" else cfg.data.channels
    return torch.rand(n, c, s, s, generator=torch.Generator().manual_seed(n)) * 2 - 1


def test_onnx_equals_pytorch_with_a_dynamic_batch(capsys, run, tmp_path):
    for direction, flag in directions(run):
        out = tmp_path / f"g_{direction}.onnx"
        code, printed, err = run_cli(capsys, "export", run.dir, "--format", "onnx", "--out", out, *flag)
        assert code == 0, err
        session = ort.InferenceSession(str(out))
        for n in (1, 3):
            x = inputs(run, n)
            got = torch.from_numpy(session.run(None, {"input": x.numpy()})[0])
            want = reference(run, x, direction)
            assert got.shape == want.shape and (got - want).abs().max() < 1e-4
            if direction:  # the file is that direction's generator, not the other's
                assert (got - reference(run, x, "BtoA" if direction == "AtoB" else "AtoB")).abs().max() > 0.01
    if run.config.model.family in ("unet", "cyclegan"):  # fully convolutional: another height and width
        x = inputs(run, 2, size=24)
        got = torch.from_numpy(session.run(None, {"input": x.numpy()})[0])
        assert got.shape[-2:] == (24, 24) and (got - reference(run, x, direction)).abs().max() < 1e-4


def test_torchscript_equals_pytorch(capsys, run, tmp_path):
    for direction, flag in directions(run):
        out = tmp_path / f"g_{direction}.pt"
        code, _, err = run_cli(capsys, "export", run.dir, "--format", "torchscript", "--out", out, *flag)
        assert code == 0, err
        x = inputs(run, 3)
        assert (torch.jit.load(str(out))(x) - reference(run, x, direction)).abs().max() < 1e-4


def test_export_refusals_are_one_line(capsys, run, tmp_path):
    code, _, err = run_cli(capsys, "export", run.dir, "--format", "tflite", "--out", tmp_path / "g")
    assert_one_line_error(code, err, "--format", "onnx, torchscript")
    code, _, err = run_cli(capsys, "export", run.dir, "--ema", "--out", tmp_path / "g.onnx")
    assert_one_line_error(code, err, "EMA", "without --ema")
    code, _, err = run_cli(capsys, "export", run.dir, "--out", run.dir / "config.json")
    assert_one_line_error(code, err, "--out")
    code, _, err = run_cli(capsys, "export", run.dir, "--direction", "BtoA", "--out", tmp_path / "g.onnx")
    if run.config.task == "unconditional":
        assert_one_line_error(code, err, "--direction", "drop it")
    elif run.config.task == "paired":
        assert_one_line_error(code, err, "BtoA", "AtoB only")
    else:
        assert code == 0, err
