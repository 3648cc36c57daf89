"""Training and using an upscaler (issue 25): the G-only objective, resume, --init-from an SRResNet,
evaluation against the baselines, tiled translation at any size, export at any size."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

import ganforge
from ganforge.data.lowres import bicubic_down, bicubic_up
from ganforge.errors import UserError
from ganforge.metrics.upscale import scores
from tests.train.test_state import _weights, same

TINY = ["model.width=8", "model.blocks=1", "model.d_width=8", "data.image_size=32", "train.batch_size=4",
        "train.log_every=2", "train.sample_every=4", "train.checkpoint_every=4", "train.grid_size=2"]  # fmt: skip


def write_photos(root, n=4, seed=0):
    """Smooth random 'photographs' of a few sizes (no two alike), with edges for the upscaler to learn."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        h, w = 48 + 8 * i, 64 - 4 * i
        small = rng.integers(0, 256, (h // 4, w // 4, 3), dtype=np.uint8)
        Image.fromarray(small).resize((w, h), Image.BICUBIC).save(root / f"photo_{i}.png")
    return root


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    return write_photos(tmp_path_factory.mktemp("photos"))


@pytest.fixture(scope="module")
def srresnet(photos, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "srresnet"
    return ganforge.train("srresnet-x2", data=str(photos), steps=4, out=out, quiet=True, overrides=TINY).dir


def test_without_an_adversarial_term_only_g_trains(srresnet, photos, tmp_path):
    rows = [json.loads(x) for x in (srresnet / "metrics.jsonl").read_text().splitlines()]
    assert all("d_loss" not in r and r["g_loss"] == r["g_l1"] for r in rows)
    longer = ganforge.train("srresnet-x2", data=str(photos), steps=8, out=tmp_path / "r", quiet=True, overrides=TINY)
    a, b = _weights(srresnet), _weights(longer.dir)
    assert same(a["d"], b["d"]) and not same(a["g"], b["g"])  # D never stepped, G did
    with pytest.raises(UserError) as error:
        ganforge.train("srresnet-x2", data=str(photos), steps=2, out=tmp_path / "none", quiet=True,
                       overrides=[*TINY, "loss.l1=0"])  # fmt: skip
    assert "loss.gan_weight=0" in str(error.value) and not (tmp_path / "none").exists()


def test_an_srgan_on_realworld_inputs_resumes_bit_for_bit(photos, tmp_path):
    over = [*TINY, "loss.perceptual=0", "model.d_arch=unet", "model.inputs=realworld", "train.checkpoint_every=3"]
    opts = dict(data=str(photos), overrides=over, quiet=True)
    ganforge.train("srgan-x2", steps=6, out=tmp_path / "straight", **opts)
    ganforge.train("srgan-x2", steps=3, out=tmp_path / "split", **opts)
    ganforge.train(resume=tmp_path / "split", steps=6, quiet=True)
    a, b = _weights(tmp_path / "straight"), _weights(tmp_path / "split")
    for component in ("g", "d", "opt_g", "opt_d", "rng"):
        assert same(a[component], b[component]), component
    rows = [json.loads(x) for x in (tmp_path / "straight" / "metrics.jsonl").read_text().splitlines()]
    assert "d_loss" in rows[-1] and "g_gan" in rows[-1]


def test_an_srgan_starts_from_an_srresnets_generator_alone(srresnet, photos, tmp_path):
    over = [*TINY, "loss.perceptual=0", "data.image_size=48", "model.d_arch=unet", "train.g_optim.lr=1e-12",
            f"train.init_from={srresnet}"]  # fmt: skip
    run = ganforge.train("srgan-x2", data=str(photos), steps=1, out=tmp_path / "gan", quiet=True, overrides=over)
    assert "the weights of G (D starts fresh)" in (run.dir / "log.txt").read_text()
    source, tuned = _weights(srresnet)["g"], _weights(run.dir)["g"]
    assert all(torch.allclose(source[k], tuned[k], atol=1e-6) for k in source)


def test_evaluation_scores_whole_photographs_against_bicubic_and_nearest(srresnet, photos):
    results, path = ganforge.evaluate(srresnet, data=str(photos), images=50)
    assert path.name == "eval_test.json" and set(results) >= {"model", "baseline: bicubic", "baseline: nearest"}
    assert results["model"]["images"] == 4 and results["model"]["fid_patches"] >= 4
    expected = []  # the bicubic row, computed here photograph by photograph
    for p in sorted(photos.iterdir()):
        high = torch.from_numpy(np.array(Image.open(p))).permute(2, 0, 1)[None].float() / 127.5 - 1
        high = high[..., : high.shape[-2] // 2 * 2, : high.shape[-1] // 2 * 2]
        expected.append(scores(bicubic_up(bicubic_down(high, 2), 2), high, border=2)["psnr_y"])
    assert results["baseline: bicubic"]["psnr_y"] == pytest.approx(sum(expected) / 4, abs=1e-6)
    assert results["baseline: bicubic"]["psnr_y"] > results["baseline: nearest"]["psnr_y"]


def test_translate_upscales_any_size_tiled_as_untiled(srresnet, tmp_path):
    g = ganforge.load(srresnet)
    image = torch.rand(1, 3, 45, 71) * 2 - 1
    whole = g.translate(image)
    tiled = g.upscale(image, tile=16)  # 3 x 5 tiles
    assert tiled.shape == (1, 3, 90, 142)
    assert (tiled - whole).abs().max() < 1e-5
    Image.fromarray(np.random.default_rng(1).integers(0, 256, (30, 50, 3), dtype=np.uint8)).save(tmp_path / "a.png")
    ganforge.translate(srresnet, tmp_path / "a.png", tmp_path / "out", side_by_side=True)
    assert Image.open(tmp_path / "out" / "a.png").size == (200, 60)  # the enlarged input beside the output


def test_an_exported_upscaler_takes_any_size(srresnet, tmp_path):
    ort = pytest.importorskip("onnxruntime")
    path, _ = ganforge.export(srresnet, tmp_path / "g.onnx")
    session = ort.InferenceSession(str(path))
    g = ganforge.load(srresnet)
    for shape in [(1, 3, 16, 16), (2, 3, 21, 38)]:
        x = torch.rand(*shape) * 2 - 1
        (out,) = session.run(None, {"input": x.numpy()})
        assert out.shape == (shape[0], 3, 2 * shape[2], 2 * shape[3])
        assert np.abs(out - g.translate(x).numpy()).max() < 1e-4


def test_an_srgan_trains_with_the_perceptual_loss(photos, tmp_path, monkeypatch):
    """The preset's three terms (L1, VGG19 features, GAN); the VGG is a stand-in (random weights), loaded
    once, on first use, as the published one would be."""
    from ganforge.metrics import vgg

    loads = []

    def stand_in(*args, **kwargs):
        loads.append(1)
        torch.manual_seed(0)
        return vgg.VGG19Features().eval().requires_grad_(False)

    monkeypatch.setattr(vgg, "load_vgg19", stand_in)
    monkeypatch.setattr(vgg.RECONSTRUCTION_LOSSES.get("perceptual"), "_loss", None, raising=False)
    run = ganforge.train("srgan-x2", data=str(photos), steps=4, out=tmp_path / "gan", quiet=True, overrides=TINY)
    rows = [json.loads(x) for x in (run.dir / "metrics.jsonl").read_text().splitlines()]
    last = rows[-1]
    assert {"g_l1", "g_perceptual", "g_gan", "d_loss"} <= set(last) and last["g_perceptual"] > 0
    expected = last["g_l1"] + last["g_perceptual"] + 0.1 * last["g_gan"]
    assert last["g_loss"] == pytest.approx(expected, rel=1e-4)
    assert loads == [1]


def test_an_upscaler_evaluates_as_it_trains_and_keeps_the_best_by_luma_psnr(photos, tmp_path):
    over = [*TINY, "eval.every=2", "eval.images=2", "eval.best_metric=psnr_y", f"data.val_name={photos}"]
    run = ganforge.train("srresnet-x2", data=str(photos), steps=4, out=tmp_path / "e", quiet=True, overrides=over)
    rows = [r for r in run.metrics() if "eval_psnr_y" in r]
    assert [r["step"] for r in rows] == [2, 4] and all("eval_ssim_y" in r and "eval_fid" in r for r in rows)
    best = max(rows, key=lambda r: (r["eval_psnr_y"], -r["step"]))
    assert torch.load(run.dir / "checkpoints" / "best.pt", weights_only=True)["step"] == best["step"]


def test_an_upscaler_trains_and_evaluates_on_a_packed_set(photos, tmp_path):
    packed = tmp_path / "packed"
    ganforge.prepare(photos, packed, image_size=32, quiet=True)
    run = ganforge.train("srresnet-x2", data=str(packed), steps=2, out=tmp_path / "p", quiet=True, overrides=TINY)
    results, _ = ganforge.evaluate(run.dir, images=50)
    assert results["model"]["images"] == 4  # each packed image scored whole (32 px)
    assert results["baseline: bicubic"]["psnr_y"] > results["baseline: nearest"]["psnr_y"]
