"""Memorisation (issue 23, metrics/memorisation.py): each generated image's distance to its nearest
training image over that image's distance to its own nearest neighbour, computed here by brute force."""

import pytest
import torch

from ganforge.config import load_config
from ganforge.detector import Detector
from ganforge.metrics.memorisation import NEAR_COPY, NearestTraining


def memorisation(train, generated, shown=8):
    """The measures for all the generated features at once."""
    nearest = NearestTraining(train, shown)
    nearest.add(generated)
    return nearest.result()


def brute_force_ratios(train, generated):
    ratios = []
    for g in generated:
        d = ((train - g) ** 2).sum(1).sqrt()
        j = int(d.argmin())
        others = torch.cat([train[:j], train[j + 1 :]])
        rho = ((others - train[j]) ** 2).sum(1).sqrt().min()
        ratios.append(float(d[j] / rho))
    return torch.tensor(ratios)


def test_the_ratios_are_the_brute_force_ones_and_copies_are_counted():
    gen = torch.Generator().manual_seed(0)
    train = torch.randn(60, 8, generator=gen)
    copies = train[:10] + 0.01 * torch.randn(10, 8, generator=gen)
    new = torch.randn(30, 8, generator=gen)
    generated = torch.cat([copies, new])
    result = memorisation(train, generated)
    ratios = brute_force_ratios(train.double(), generated.double())
    assert result["median_ratio"] == pytest.approx(float(ratios.median()), rel=1e-6)
    assert result["near_copies"] == pytest.approx(float((ratios < NEAR_COPY).double().mean()))
    assert result["near_copies"] == pytest.approx(10 / 40)  # the copies, and none of the new points
    assert {c["generated"] for c in result["closest"]} <= set(range(10))
    assert memorisation(train, new)["near_copies"] == 0.0


def test_a_share_of_near_copies_above_the_threshold_is_a_memorising_event():
    cfg = load_config({"health": {"warmup": 0}})
    detector = Detector(cfg, chance=None, floor=0.0, recon=None)
    assert not detector.feed({"step": 10, "eval_near_copies": 0.05})
    events = detector.feed({"step": 20, "eval_near_copies": 0.6})
    assert [e.kind for e in events] == ["memorising"] and "60%" in events[0].message


def test_batches_give_the_whole_result_and_keep_the_closest_images():
    gen = torch.Generator().manual_seed(1)
    train = torch.randn(50, 6, generator=gen)
    generated = torch.cat([torch.randn(40, 6, generator=gen), train[[7, 3]] + 1e-3])
    images = torch.arange(len(generated)).float().view(-1, 1, 1, 1).expand(-1, 1, 2, 2)  # image i is all i
    nearest = NearestTraining(train, shown=3)
    for part in range(0, len(generated), 16):
        nearest.add(generated[part : part + 16], images[part : part + 16])
    whole = memorisation(train, generated, shown=3)
    assert nearest.result() == whole
    kept = nearest.closest_images()[:, 0, 0, 0].long().tolist()
    assert kept == [c["generated"] for c in whole["closest"]] and set(kept[:2]) == {40, 41}
    assert {c["training"] for c in whole["closest"][:2]} == {7, 3}


class _Drawn:
    """A stand-in generator that draws its images from `pool` (with a little noise), the same every call."""

    def __init__(self, cfg, pool):
        self.config, self.device, self.pool = cfg, torch.device("cpu"), pool

    def batches(self, n, seed=None, batch_size=64):
        gen = torch.Generator().manual_seed(seed or 0)
        idx = torch.randint(len(self.pool), (n,), generator=gen)
        images = (self.pool[idx] + 0.02 * torch.randn(n, *self.pool.shape[1:], generator=gen)).clamp(-1, 1)
        yield from images.split(batch_size)


def test_a_tiny_set_is_scored_in_pixels_and_its_copies_are_found(tmp_path):
    """Eight training digits: too few for the own extractor, so the evaluation measures in pixels and says
    so; a generator that returns the training images is all near-copies, one that makes other digits none.
    The closest pairs are written beside the results and shown in the report."""
    from PIL import Image

    from ganforge.data.builtin import digits_images
    from ganforge.metrics.generated import Evaluator

    x, _ = digits_images(28, 1)
    folder = tmp_path / "tiny"
    folder.mkdir()
    for i in range(8):
        Image.fromarray(((x[i, 0] + 1) * 127.5).round().byte().numpy()).save(folder / f"{i}.png")
    cfg = load_config(
        {"model": {"family": "dcgan-mnist"}, "data": {"name": str(folder), "image_size": 28, "channels": 1}}
    )
    evaluator = Evaluator(cfg, tmp_path, "own", images=200)
    copied = evaluator(_Drawn(cfg, x[:8]))
    new = Evaluator(cfg, tmp_path, "own", images=200)(_Drawn(cfg, x[100:300]))
    print("copied", copied["memorisation"]["median_ratio"], "new", new["memorisation"]["median_ratio"])
    assert copied["extractor"] == "pixels" and "64 or more" in copied["note"] and copied["real_images"] == 8
    assert copied["near_copies"] > 0.95 and new["near_copies"] < 0.1
    generated, training = evaluator.closest
    assert generated.shape == training.shape == (8, 1, 28, 28)
    assert (generated - training).abs().mean() < 0.05  # each kept image beside the training image it copies


def test_a_run_on_a_few_images_logs_near_copies_at_its_sample_steps(tmp_path):
    """The sample-step watch needs no extractor: a run on four images logs near_copies (and no diversity,
    which needs 40 images) at each sample step."""
    import json

    from PIL import Image

    import ganforge
    from ganforge.data.builtin import digits_images
    from tests.conftest import tiny_overrides

    x, _ = digits_images(32, 1)
    folder = tmp_path / "four"
    folder.mkdir()
    for i in range(4):
        Image.fromarray(((x[i, 0] + 1) * 127.5).round().byte().numpy()).save(folder / f"{i}.png")
    sets = [*tiny_overrides(), "train.batch_size=4", "data.channels=1", "health.warmup=0"]
    run = ganforge.train("dcgan", data=str(folder), steps=8, out=tmp_path / "run", quiet=True, overrides=sets)
    rows = [json.loads(line) for line in (run.dir / "metrics.jsonl").read_text().splitlines()]
    watched = [r for r in rows if "near_copies" in r]
    assert [r["step"] for r in watched] == [4, 8] and all(0 <= r["near_copies"] <= 1 for r in watched)
    assert not any("diversity" in r for r in rows)
