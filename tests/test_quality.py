"""Learning shown by measured quality: a classifier trained on real digits reads the generated ones."""

import numpy as np
import torch

import ganforge
from ganforge.api import Generator
from ganforge.config import load_config
from ganforge.models import build_models


def digit_census(classifier, images: torch.Tensor) -> tuple[np.ndarray, float]:
    """How many samples the classifier assigns to each digit with confidence > 0.9, and the mean confidence."""
    p = classifier.predict_proba(images)
    confident = p.argmax(1)[p.max(1) > 0.9]
    return np.bincount(confident, minlength=10), float(p.max(1).mean())


def test_classifier_reads_real_digits(digit_classifier):
    from ganforge.data.builtin import digits_images

    x, y = digits_images(28, 1)
    p = digit_classifier.predict_proba(x[1500:])
    assert (p.argmax(1) == y[1500:].numpy()).mean() > 0.85


def test_all_ten_digits_are_recognisable_after_1500_steps(digits_run, digit_classifier):
    """ganforge train dcgan-mnist --data digits --steps 1500: at least 9 of the 10 digits appear
    confidently among 1,000 samples, and the samples are read far more confidently than an
    untrained generator's."""
    counts, mean_conf = digit_census(digit_classifier, ganforge.load(digits_run, device="cpu").sample(1000, seed=7))
    print("confident samples per digit:", counts.tolist(), "mean confidence:", round(mean_conf, 3))
    assert (counts >= 10).sum() >= 9, counts
    assert counts.sum() >= 400  # at least 40% of all samples are confidently read digits
    assert mean_conf > 0.8

    torch.manual_seed(0)
    cfg = load_config("dcgan-mnist")
    untrained = Generator(build_models(cfg)[0], cfg, torch.device("cpu"))
    base_counts, base_conf = digit_census(digit_classifier, untrained.sample(1000, seed=7))
    assert (base_counts >= 10).sum() < 9 or base_counts.sum() < 400 or base_conf <= 0.8


def test_api_load_and_sample(digits_run):
    g = ganforge.load(digits_run, device="cpu")
    a, b, c = g.sample(6, seed=1), g.sample(6, seed=1), g.sample(6, seed=2)
    assert a.shape == (6, 1, 28, 28) and a.min() >= -1 and a.max() <= 1
    assert torch.equal(a, b) and not torch.equal(a, c)
    pics = g.to_pil(a)
    assert len(pics) == 6 and pics[0].size == (28, 28) and pics[0].mode == "L"
    run_metrics = [line for line in (digits_run / "metrics.jsonl").read_text().splitlines() if line]
    assert len(run_metrics) == 150  # one line every 10 steps
    assert (digits_run / "losses.png").is_file() and (digits_run / "samples" / "step_0001500.png").is_file()
