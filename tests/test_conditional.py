"""Class conditioning (models/conditional.py, data/labels.py): the networks, where labels come from, and a
conditional run end to end: the grid's rows, `sample --label`, a latent walk, export with a label input,
and the evaluation's per-class view."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

import ganforge
from ganforge.config import load_config
from ganforge.data.folder import ImageFolder
from ganforge.data.labels import folder_labels, labelled
from ganforge.models import build_models, count_parameters
from ganforge.models.conditional import ConditionalGenerator, ProjectionDiscriminator
from tests.test_cli import assert_one_line_error, run_cli

MNIST = {"image_size": 28, "channels": 1}
TINY_R3GAN = ["model.family=r3gan", "model.width=16", "model.blocks=1", "model.latent_dim=8", "data.image_size=16",
              "data.channels=1", "loss.gan=rpgan", "loss.r1=0.1", "loss.r2=0.1", "train.batch_size=10",
              "train.log_every=2", "train.sample_every=4", "train.checkpoint_every=4", "train.grid_size=3",
              "model.conditional=true"]  # fmt: skip


def test_the_projection_head_adds_the_inner_product_of_class_and_features():
    """D(x, y) = D'(x) + <E(y), h(x)>, with h(x) the input of D's last layer, computed here by hand."""
    cfg = load_config({"model": {"family": "dcgan-mnist", "width": 8, "conditional": True, "num_classes": 10},
                       "data": MNIST})  # fmt: skip
    g, d = build_models(cfg)
    assert isinstance(g, ConditionalGenerator) and isinstance(d, ProjectionDiscriminator)
    d.eval()
    x, y = torch.randn(5, 1, 28, 28), torch.tensor([0, 3, 3, 9, 1])
    h = d.d.net[:-1](x).flatten(1)  # everything before the last Linear
    expected = d.d(x) + (d.embed.weight[y] * h).sum(1, keepdim=True)
    assert torch.allclose(d(x, y), expected, atol=1e-5)
    assert not torch.allclose(d(x, y), d(x, torch.tensor([1, 4, 4, 0, 2])))
    z = torch.randn(5, 100)
    assert g(z, y).shape == (5, 1, 28, 28) and not torch.allclose(g(z, y), g(z, (y + 1) % 10))


def test_the_class_fades_in_over_the_condition_ramp(tmp_path):
    """Strength 0 is an unconditional GAN; the schedule raises it to 1 over model.condition_ramp of the run."""
    from ganforge.train.schedules import condition_strength

    cfg = load_config({"model": {"family": "dcgan-mnist", "width": 8, "conditional": True, "num_classes": 10,
                                 "condition_ramp": 0.5}, "data": MNIST})  # fmt: skip
    g, d = build_models(cfg)
    g.eval(), d.eval()
    g.strength.fill_(0.0), d.strength.fill_(0.0)
    z, x = torch.randn(3, 100), torch.randn(3, 1, 28, 28)
    a, b = torch.tensor([0, 1, 2]), torch.tensor([7, 8, 9])
    assert torch.equal(g(z, a), g(z, b)) and torch.equal(d(x, a), d(x, b))
    assert [round(condition_strength(cfg, t), 4) for t in (0, 0.25, 0.5, 0.9)] == [0.0, 0.5, 1.0, 1.0]


def test_unconditional_networks_keep_their_sizes_and_conditioning_adds_only_its_embeddings():
    plain = load_config({"model": {"family": "dcgan-mnist"}, "data": MNIST})
    cond = load_config({"model": {"family": "dcgan-mnist", "conditional": True, "num_classes": 10}, "data": MNIST})
    (g0, d0), (g1, d1) = build_models(plain), build_models(cond)
    assert count_parameters(g0, with_bn_stats=True) == 2_330_944  # seed 001's own counts
    assert count_parameters(d0, with_bn_stats=True) == 212_865
    # G: 10 x 100 embedding and the first layer's 100 extra inputs (7 * 7 * 256 outputs); D: 10 x 6272
    assert count_parameters(g1) - count_parameters(g0) == 10 * 100 + 100 * 7 * 7 * 256
    assert count_parameters(d1) - count_parameters(d0) == 10 * 7 * 7 * 128


def _folder(root, names):
    for i, name in enumerate(names):
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.full((8, 8), 20 * i, np.uint8)).save(path)
    return root


def test_a_folder_is_labelled_by_its_subfolders_or_its_labels_file(tmp_path):
    root = _folder(tmp_path / "a", ["dogs/1.png", "cats/2.png", "cats/3.png", "birds/x/4.png"])
    data = labelled(ImageFolder(root, 8, 1), str(root))
    assert data.class_names == ["birds", "cats", "dogs"]
    assert {p.name: int(k) for p, k in zip(data.images.paths, data.labels, strict=True)} == {
        "4.png": 0, "2.png": 1, "3.png": 1, "1.png": 2}  # fmt: skip
    flat = _folder(tmp_path / "b", ["1.png", "2.png", "3.png"])
    (flat / "labels.csv").write_text("file,label\n1.png,10\n2.png,2\n3.png,10\n")
    labels, names = folder_labels(flat, ImageFolder(flat, 8, 1).paths)
    assert names == ["2", "10"] and labels.tolist() == [1, 0, 1]  # numbers in numeric order


@pytest.mark.parametrize(
    ("files", "csv", "needle"),
    [
        (["1.png", "2.png"], None, "1.png lies in the folder itself"),
        (["a/1.png", "a/2.png"], None, "not in two or more subfolders"),
        (["1.png", "2.png"], "1.png,cat\n", "no label for 1 of the 2 images, e.g. 2.png"),
        (["1.png", "2.png"], "1.png\n", "line 1: expected 'relative/path.png,label'"),
    ],
)
def test_a_folder_without_labels_used_conditionally_is_one_line(capsys, tmp_path, files, csv, needle):
    root = _folder(tmp_path / "data", files)
    if csv:
        (root / "labels.csv").write_text(csv)
    code, _, err = run_cli(capsys, "train", "dcgan", "--data", root, "--image-size", 32, "--steps", 2,
                           "--set", "model.conditional=true", "--out", tmp_path / "run")  # fmt: skip
    assert_one_line_error(code, err, needle)
    assert not (tmp_path / "run").exists()


@pytest.fixture(scope="module")
def conditional_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("cond") / "run"
    return ganforge.train("dcgan", data="digits", steps=4, out=out, quiet=True, overrides=TINY_R3GAN)


def test_a_conditional_run_keeps_its_classes_and_a_grid_row_for_each(conditional_run):
    run = conditional_run
    assert run.config.model.num_classes == 10  # found in the data, written to config.json
    assert json.loads((run.dir / "config.json").read_text())["model"]["num_classes"] == 10
    assert json.loads((run.dir / "classes.json").read_text()) == [str(k) for k in range(10)]
    grid = Image.open(run.latest_grid())
    # 10 rows of grid_size (3) images of 16 px with 2 px gaps
    assert grid.size == (3 * 16 + 4 * 2, 10 * 16 + 11 * 2)


def test_sampling_by_label_is_the_generator_run_on_that_class(conditional_run, capsys, tmp_path):
    g = ganforge.load(conditional_run.dir, device="cpu")
    z = torch.randn(256, 8, generator=torch.Generator().manual_seed(3))[:4]
    sevens = g.sample(4, seed=3, label=7)
    assert torch.allclose(sevens, g.contract.run(g.net, z, labels=torch.full((4,), 7)), atol=1e-6)
    assert not torch.allclose(sevens, g.sample(4, seed=3, label="2"))
    assert torch.allclose(g.sample(3, seed=3, label=[7, 7, 7]), sevens[:3], atol=1e-6)
    code, printed, err = run_cli(capsys, "sample", conditional_run.dir, "--n", 2, "--label", 3, "--label", "5",
                                 "--out", tmp_path / "s", "--grid", tmp_path / "grid.png")  # fmt: skip
    assert code == 0, err
    assert sorted(p.name for p in (tmp_path / "s").iterdir()) == [
        "class3_00000.png", "class3_00001.png", "class5_00000.png", "class5_00001.png"]  # fmt: skip
    code, _, err = run_cli(capsys, "sample", conditional_run.dir, "--label", "11", "--out", tmp_path / "t")
    assert_one_line_error(code, err, "label '11' is not a class of this run: give 0 to 9")


def test_a_latent_walk_is_a_smooth_loop(conditional_run, capsys, tmp_path):
    g = ganforge.load(conditional_run.dir, device="cpu")
    frames = g.walk(16, seed=1, label=4)
    assert frames.shape == (16, 1, 16, 16)
    steps = (frames - frames.roll(1, 0)).abs().mean((1, 2, 3))  # neighbours, the last back to the first
    far = (frames - frames.roll(8, 0)).abs().mean((1, 2, 3))
    assert steps.mean() < 0.6 * far.mean()
    code, _, err = run_cli(
        capsys, "sample", conditional_run.dir, "--walk", 6, "--label", 4, "--out", tmp_path / "w.gif"
    )
    assert code == 0, err
    assert Image.open(tmp_path / "w.gif").n_frames == 6


def test_truncation_draws_the_noise_towards_its_mean(conditional_run, capsys, tmp_path):
    g = ganforge.load(conditional_run.dir, device="cpu")
    z = torch.randn(256, 8, generator=torch.Generator().manual_seed(0))[:5]  # as sample draws it: in blocks
    labels = torch.arange(5) % 10
    assert torch.allclose(g.sample(5, seed=0, truncation=0.5), g.contract.run(g.net, 0.5 * z, labels=labels))
    code, _, err = run_cli(capsys, "sample", conditional_run.dir, "--truncation", 0, "--out", tmp_path / "t")
    assert_one_line_error(code, err, "truncation must be a number in (0, 1]")


def test_onnx_export_takes_the_label_as_a_second_input(conditional_run, capsys, tmp_path):
    ort = pytest.importorskip("onnxruntime")
    code, _, err = run_cli(capsys, "export", conditional_run.dir, "--format", "onnx", "--out", tmp_path / "g.onnx")
    assert code == 0, err
    session = ort.InferenceSession(str(tmp_path / "g.onnx"))
    assert [i.name for i in session.get_inputs()] == ["input", "label"]
    g = ganforge.load(conditional_run.dir, device="cpu")
    z, y = torch.randn(3, 8), torch.tensor([0, 5, 9])
    got = torch.from_numpy(session.run(None, {"input": z.numpy(), "label": y.numpy()})[0])
    assert (got - g.contract.run(g.net, z, labels=y)).abs().max() < 1e-4


class _RealsByClass:
    """A stand-in generator whose image i is a real digit of class i % 10 (or of the class after it)."""

    def __init__(self, shift: int):
        from ganforge.data.builtin import digits_images

        self.images, self.labels = digits_images(16)
        self.shift, self.classes = shift, [str(k) for k in range(10)]
        self.config = load_config({"model": {"family": "r3gan"}, "data": {"image_size": 16, "channels": 1}})
        self.device = torch.device("cpu")

    def batches(self, n, seed=None, batch_size=256):
        gen = torch.Generator().manual_seed(seed or 0)
        wanted = (torch.arange(n) + self.shift) % 10
        picks = [torch.nonzero(self.labels == k).flatten() for k in range(10)]
        idx = torch.stack([picks[k][torch.randint(len(picks[k]), (1,), generator=gen)] for k in wanted]).flatten()
        yield self.images[idx]


def test_the_per_class_view_reads_the_class_asked_for(tmp_path):
    """Reals of the class asked for: read as it about as often as the classifier reads reals right, with a
    small intra-class FID; reals of the next class: almost never, with a large one."""
    from ganforge.metrics.generated import Evaluator

    cfg = load_config({"model": {"family": "r3gan", "conditional": True, "num_classes": 10},
                       "data": {"image_size": 16, "channels": 1}})  # fmt: skip
    evaluator = Evaluator(cfg, tmp_path, "own", images=600)
    right, wrong = evaluator(_RealsByClass(0)), evaluator(_RealsByClass(1))
    real_accuracy = right["classes"]["classifier_accuracy_on_reals"]
    assert right["conditional"]["label_accuracy"] > real_accuracy - 0.08
    assert wrong["conditional"]["label_accuracy"] < 0.15
    assert len(right["conditional"]["intra_fid_per_class"]) == 10
    assert right["conditional"]["intra_fid"] * 3 < wrong["conditional"]["intra_fid"]


def test_the_mode_seeking_ratio_and_its_pairs_of_one_class():
    """Image distance over noise distance of images i and i + n/2 (MSGAN), against numpy; the conditional
    task's fakes come in such pairs, of the first half of the reals' classes."""
    from ganforge.train.objective import mode_seeking_ratio
    from ganforge.train.tasks import UnconditionalTask

    fake, z = torch.randn(6, 1, 4, 4), torch.randn(6, 8)
    f, n = fake.numpy(), z.numpy()
    expected = np.abs(f[:3] - f[3:]).mean() / np.abs(n[:3] - n[3:]).mean()
    assert mode_seeking_ratio(fake, z).item() == pytest.approx(float(expected), rel=1e-5)
    cfg = load_config({"model": {"family": "r3gan", "latent_dim": 8, "conditional": True, "num_classes": 10}})
    task, asked = UnconditionalTask(cfg), []
    task.generate(lambda z, labels: asked.append(labels) or z, torch.tensor([4, 1, 7, 2, 9]), 5, torch.device("cpu"))
    assert asked[0].tolist() == [4, 1, 7, 4, 1] and task.last_noise.shape == (5, 8)
