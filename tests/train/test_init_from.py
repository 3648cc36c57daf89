"""Fine-tuning (issue 23, train/init_from.py): `--init-from RUN_DIR` starts a new run from a trained run's
weights with new optimisers; `train.freeze_d` keeps D's first layers as trained; a misfit is one line."""

import shutil

import pytest
import torch

import ganforge
from ganforge.api import resolve_config
from ganforge.errors import UserError
from ganforge.runs.checkpoint import load_checkpoint
from ganforge.train.loop import Trainer
from tests.conftest import tiny_overrides


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    out = tmp_path_factory.mktemp("src") / "run"
    ganforge.train("dcgan", data="digits", steps=4, out=out, quiet=True, overrides=tiny_overrides())
    return out


def test_a_fine_tuned_run_starts_from_the_weights_with_new_optimisers(source, tmp_path):
    cfg = resolve_config("dcgan", data="digits", overrides=[*tiny_overrides(), f"train.init_from={source}"])
    t = Trainer(cfg, tmp_path / "ft", quiet=True)
    saved = load_checkpoint(source / "checkpoints" / "latest.pt")
    for name in ("g", "d"):
        own = t.nets[name].state_dict()
        assert all(torch.equal(own[k].float(), saved[name][k].float()) for k in own), name
    assert t.progress.step == 0 and not t.optimizers["g"].optimizer.state  # a new Adam, its moments empty
    assert any("initialised from" in note for note in t.start_notes)


def test_freeze_d_keeps_the_first_layers_as_trained_and_trains_the_rest(source, tmp_path):
    over = [*tiny_overrides(), f"train.init_from={source}", "train.freeze_d=2"]
    run = ganforge.train("dcgan", data="digits", steps=4, out=tmp_path / "ft", quiet=True, overrides=over)
    before = load_checkpoint(source / "checkpoints" / "latest.pt")["d"]
    after = load_checkpoint(run.checkpoint)["d"]
    weights = [k for k in before if k.endswith("weight")]  # conv, BatchNorm, conv, ... in D's order
    assert all(torch.equal(before[k], after[k]) for k in weights[:2])
    assert not any(torch.equal(before[k], after[k]) for k in weights[2:])


def test_a_fine_tuned_run_resumes_without_its_source(source, tmp_path):
    copy = tmp_path / "source"
    shutil.copytree(source, copy)
    over = [*tiny_overrides(), f"train.init_from={copy}"]
    run = ganforge.train("dcgan", data="digits", steps=4, out=tmp_path / "ft", quiet=True, overrides=over)
    shutil.rmtree(copy)  # a resume goes on from its own checkpoint, not the source's
    ganforge.train(resume=run.dir, steps=6, quiet=True)
    assert load_checkpoint(run.checkpoint)["step"] == 6


@pytest.mark.parametrize(
    "preset, over, needles",
    [
        ("dcgan", ["data.image_size=64"], ["data.image_size: 32 in the checkpoint, 64 now"]),
        ("dcgan-mnist", [], ["trained a dcgan", "dcgan-mnist"]),
        ("dcgan", ["train.freeze_d=9"], ["train.freeze_d=9", "at most"]),
    ],
)
def test_a_run_that_does_not_fit_is_refused_in_one_line_before_its_folder_exists(source, tmp_path, preset, over,
                                                                                   needles):  # fmt: skip
    overrides = [*tiny_overrides(), f"train.init_from={source}", *over]
    if preset == "dcgan-mnist":
        overrides = [f"train.init_from={source}"]
    with pytest.raises(UserError) as error:
        ganforge.train(preset, data="digits", steps=2, out=tmp_path / "ft", quiet=True, overrides=overrides)
    text = str(error.value)
    assert "\n" not in text and all(n in text for n in needles), text
    assert not (tmp_path / "ft").exists()


def test_fine_tuning_a_trained_run_beats_training_from_scratch_on_a_small_new_set(digits_run, tmp_path):
    """100 sevens, 100 steps each: started from the headline digits run, the generator makes sevens (a
    classifier of the digits reads them so, and FID on the sevens' own features is far lower) while a run
    from scratch still makes blobs. The docs give the 300-step figures."""
    from PIL import Image

    from ganforge.data.builtin import digits_images
    from ganforge.metrics.classes import ClassifierView
    from ganforge.metrics.generated import Evaluator

    x, y = digits_images(28, 1)
    sevens = tmp_path / "sevens"
    sevens.mkdir()
    for i in torch.nonzero(y == 7).flatten()[:100].tolist():
        Image.fromarray(((x[i, 0] + 1) * 127.5).round().byte().numpy()).save(sevens / f"{i}.png")
    common = dict(data=str(sevens), image_size=28, steps=100, quiet=True, overrides=["data.channels=1"])
    tuned = ganforge.train("dcgan-mnist", out=tmp_path / "tuned", init_from=str(digits_run), **common)
    scratch = ganforge.train("dcgan-mnist", out=tmp_path / "scratch", **common)
    view = ClassifierView(x, y)
    scores = {}
    for name, run in (("tuned", tuned), ("scratch", scratch)):
        g = ganforge.load(run.dir)
        evaluator = Evaluator(g.config, tmp_path / "features", "own", images=300)
        sevens_read = float((view.proba(g.sample(300, seed=0)).argmax(1) == 7).mean())
        scores[name] = (evaluator(g)["fid"], sevens_read)
    print(scores)
    assert scores["tuned"][0] * 5 < scores["scratch"][0]
    assert scores["tuned"][1] > 0.6 > scores["scratch"][1] + 0.3
