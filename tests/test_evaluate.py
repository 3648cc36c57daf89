"""`ganforge evaluate` on a noise-to-image run: the distribution metrics with the run's own extractor and the
classifier view, which tell a 1,500-step run from a 100-step run of the same config."""

import json
import shutil

import pytest
import torch
from PIL import Image

import ganforge
from ganforge.data.builtin import digits_images
from ganforge.metrics.classes import ClassifierView
from ganforge.metrics.features import own_extractor
from tests.test_cli import assert_one_line_error, run_cli

KEYS = {"fid", "kid", "precision", "recall", "density", "coverage", "extractor", "images", "step"}


@pytest.fixture(scope="module")
def short_run(tmp_path_factory, digits_run):
    """The headline run's config stopped at step 100 (about 15 s), with the headline run's own extractor
    (the same data, so the same network: copied rather than trained again)."""
    out = tmp_path_factory.mktemp("short") / "digits100"
    ganforge.train("dcgan-mnist", data="digits", steps=100, out=out, quiet=True)
    return out


def evaluate(capsys, run, *args):
    code, out, err = run_cli(capsys, "evaluate", run, "--features", "own", "--images", "1000", *args)
    assert code == 0, err
    return out


def test_a_longer_run_scores_clearly_better(capsys, digits_run, short_run, tmp_path):
    table = evaluate(capsys, digits_run)
    assert "FID" in table and "classifier view" in table and "saved" in table
    shutil.copytree(digits_run / "features", short_run / "features")
    short = json.loads(evaluate(capsys, short_run, "--json"))
    long = json.loads((digits_run / "eval_own.json").read_text())
    assert short == json.loads((short_run / "eval_own.json").read_text())
    print(json.dumps({"1500": long, "100": short}, indent=1))
    assert set(long) >= KEYS and (long["step"], short["step"]) == (1500, 100) and long["images"] == 1000
    assert long["fid"] < short["fid"] / 3 and long["kid"] < short["kid"] / 3
    for k in ("precision", "recall", "density", "coverage"):
        assert long[k] > max(2 * short[k], short[k] + 0.05), k
    view = long["classes"]
    assert view["coverage"] >= 9 and sum(view["histogram"]) == 1000 and view["classifier_accuracy_on_reals"] > 0.85
    assert short["classes"]["coverage"] <= view["coverage"] - 5  # a 100-step generator makes a blob or two
    # a healthy run on 1,797 digits copies none of them (issue 23); its closest pairs beside the results
    assert long["near_copies"] < 0.05 and long["memorisation"]["median_ratio"] > 0.7
    assert long["memorisation"]["image"] == "eval_own_closest.png"
    with Image.open(digits_run / "eval_own_closest.png") as pairs:
        assert pairs.size == (8 * 30 + 2, 2 * 30 + 2)  # 8 generated images above their 8 training images
    assert "Closest to training images" in ganforge.report(digits_run, tmp_path / "report.html").read_text()


def test_evaluation_is_repeatable_and_reuses_the_saved_extractor(capsys, digits_run, tmp_path):
    first = json.loads(evaluate(capsys, digits_run, "--json", "--out", tmp_path / "again.json"))
    assert first == json.loads(evaluate(capsys, digits_run, "--json", "--out", tmp_path / "again.json"))
    saved = torch.load(digits_run / "features" / "own.pt", weights_only=True)
    assert saved["data"].startswith("digits|28|1")


def test_evaluate_names_a_bad_option(capsys, digits_run):
    before = {p: p.stat().st_mtime_ns for p in digits_run.rglob("*") if p.is_file()}
    code, _, err = run_cli(capsys, "evaluate", digits_run, "--images", "0")
    assert_one_line_error(code, err, "--images")
    code, _, err = run_cli(capsys, "evaluate", digits_run, "--images", "5")
    assert_one_line_error(code, err, "5 images", "10 or more")
    code, _, err = run_cli(capsys, "evaluate", digits_run, "--checkpoint", "nope")
    assert_one_line_error(code, err, "nope", "latest")
    code, _, err = run_cli(capsys, "evaluate", digits_run, "--split", "val")
    assert_one_line_error(code, err, "--split", "drop them")
    code, _, err = run_cli(capsys, "evaluate", digits_run, "--out", digits_run / "metrics.jsonl")
    assert_one_line_error(code, err, "metrics.jsonl")
    code, _, err = run_cli(capsys, "report", digits_run, "--out", digits_run / "checkpoints" / "latest.pt")
    assert_one_line_error(code, err, "latest.pt")
    assert before == {p: p.stat().st_mtime_ns for p in digits_run.rglob("*") if p.is_file()}


def test_another_checkpoint_gets_its_own_results_file(capsys, digits_run):
    evaluate(capsys, digits_run, "--checkpoint", "step_0001000", "--images", "100")
    result = json.loads((digits_run / "eval_own_step_0001000.json").read_text())
    assert result["step"] == 1000 and result["images"] == 100


def test_own_extractor_is_trained_once_per_data(tmp_path, monkeypatch):
    monkeypatch.setattr("ganforge.metrics.features.OWN_STEPS", 20)
    images, _ = digits_images(28)
    calls = []

    def reals():
        calls.append(1)
        return images[:300]

    first = own_extractor(tmp_path, reals, "digits|28|1|images")
    again = own_extractor(tmp_path, reals, "digits|28|1|images")
    assert len(calls) == 1 and torch.equal(first(images[:5]), again(images[:5]))
    own_extractor(tmp_path, reals, "shapes|28|1|images")  # other data: trained again, for them
    assert len(calls) == 2


def test_classifier_view_sees_a_missing_class():
    images, labels = digits_images(28)
    view = ClassifierView(images, labels)
    all_digits = view(images[1400:])
    no_sevens = view(images[1400:][labels[1400:] != 7])
    assert all_digits["coverage"] == 10 and view.real_accuracy > 0.85
    assert no_sevens["coverage"] == 9 and no_sevens["histogram"][7] < 0.02 * sum(no_sevens["histogram"])
    assert view(images[:300][labels[:300] == 3])["coverage"] == 1


def test_evaluate_with_the_inception_features(capsys, tmp_path, monkeypatch):
    """The whole path with `--features inception`: the weights (a stand-in file the test writes, as the
    download test does) fetched into the cache and checked, then every metric on 2048 Inception features."""
    from ganforge.data.download import file_digest
    from ganforge.metrics import inception
    from tests.conftest import tiny_overrides
    from tests.reference.portable_weights import portable_weights

    weights = tmp_path / "weights.pth"
    torch.save(portable_weights({k: v.shape for k, v in inception.FIDInception().state_dict().items()}), weights)
    monkeypatch.setattr(inception, "WEIGHTS_URL", weights.as_uri())
    monkeypatch.setattr(inception, "WEIGHTS_SHA256_PREFIX", file_digest(weights, "sha256"))
    run = ganforge.train("dcgan", data="digits", steps=2, out=tmp_path / "r", quiet=True, overrides=tiny_overrides())
    code, out, err = run_cli(capsys, "evaluate", run.dir, "--features", "inception", "--images", "10", "--json")
    assert code == 0, err
    result = json.loads(out)
    assert result["extractor"] == "inception" and result["images"] == 10 and result["fid"] > 0
    assert (tmp_path / "r" / "eval_inception.json").is_file() and inception.weights_path().is_file()
