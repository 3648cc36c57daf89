from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import ganforge


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """No test reads or writes the user's download cache."""
    monkeypatch.setenv("GANFORGE_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))


def tiny_overrides() -> list[str]:
    """A DCGAN small enough to train a few steps in a second on a CPU."""
    return [
        "model.width=8",
        "data.image_size=32",
        "train.batch_size=8",
        "train.log_every=2",
        "train.sample_every=4",
        "train.checkpoint_every=4",
        "train.grid_size=2",
    ]


class DigitClassifier:
    """A logistic regression trained on the real 8x8 UCI digits (about 96% accurate on held-out digits):
    our measure of whether generated 28x28 images are recognisable digits, of which digits, and how far
    they lie from real ones."""

    def __init__(self):
        from sklearn.datasets import load_digits
        from sklearn.linear_model import LogisticRegression

        from ganforge.data.builtin import digits_images

        d = load_digits()
        self.model = LogisticRegression(max_iter=3000).fit(d.data[:1500], d.target[:1500])
        self.holdout = (d.data[1500:], d.target[1500:])
        self.real = self.to_features(digits_images(28, 1)[0][:1500])

    @staticmethod
    def to_features(images: torch.Tensor) -> np.ndarray:
        """Images (N, 1, H, W) in [-1, 1] -> 8x8 in the digits' 0..16 scale, flattened."""
        small = F.adaptive_avg_pool2d(images.float(), 8)
        return ((small + 1) * 8).clamp(0, 16).flatten(1).numpy()

    def predict_proba(self, images: torch.Tensor) -> np.ndarray:
        return self.model.predict_proba(self.to_features(images))

    def quality(self, images: torch.Tensor) -> dict:
        """counts: samples read as each digit with confidence > 0.9; coverage: digits with 10 or more of
        them; entropy: of that histogram, 1 for ten equal digits, 0 for one; distance: the median distance
        of a sample to its nearest real digit (8x8 features; held-out real digits: about 11)."""
        p = self.predict_proba(images)
        counts = np.bincount(p.argmax(1)[p.max(1) > 0.9], minlength=10)
        share = counts / max(counts.sum(), 1)
        entropy = float(-(share[share > 0] * np.log(share[share > 0])).sum() / np.log(10))
        feats = self.to_features(images)
        nearest = np.sqrt(((feats[:, None, :] - self.real[None]) ** 2).sum(-1)).min(1)
        return {
            "counts": counts.tolist(),
            "coverage": int((counts >= 10).sum()),
            "confident": int(counts.sum()),
            "entropy": round(entropy, 3),
            "distance": round(float(np.median(nearest)), 2),
        }


@pytest.fixture(scope="session")
def digit_classifier() -> DigitClassifier:
    return DigitClassifier()


@pytest.fixture(scope="session")
def digits_run(tmp_path_factory) -> Path:
    """The README's headline run, trained once for the whole session (about 3-4 minutes on 2 cores):
    ganforge train dcgan-mnist --data digits --steps 1500."""
    out = tmp_path_factory.mktemp("runs") / "digits"
    ganforge.train("dcgan-mnist", data="digits", steps=1500, out=out, quiet=True)
    return out


# Runs of more than a few seconds, shared by the tests that read them: a test that uses one is `slow`.
SLOW_FIXTURES = {"digits_run", "restore_run", "shapes_run", "short_run", "collapsed", "cured", "one_process",
                 "two_processes", "conditional_digits", "modern_digits"}  # fmt: skip
# Tests that train for more than about 5 s themselves (measured with pytest --durations on 2 cores).
SLOW_TESTS = {
    "test_a_run_killed_at_a_random_moment_resumes_to_the_uninterrupted_weights",
    "test_the_catalogue_of_bad_inputs_ends_each_in_one_line_or_works",
    "test_sync_batchnorm_normalises_over_the_global_batch",
    "test_two_evaluations_of_one_run_at_once_both_succeed",
    "test_a_disk_that_fills_and_frees_again_loses_nothing",
    "test_d_wins_in_a_real_run_and_the_health_verdict",
    "test_a_one_process_run_resumed_on_two_processes_continues_it",
    "test_a_two_process_run_resumed_on_one_process_continues_it",
    "test_each_adversarial_loss_learns_digits",
    "test_a_step_that_would_not_end_stops_between_its_phases",
    "test_unpadded_unet_crops_targets_and_evaluates",
    "test_evaluating_on_a_folder_without_splits_says_it_scores_the_training_images",
    "test_old_runs_resume_evaluate_and_report",
    "test_a_resume_on_a_full_disk_leaves_the_run_as_it_was",
    "test_processes_decide_together_whether_the_weights_are_finite",
    "test_compiled_networks_train_alike_and_save_plain_keys",
    "test_an_interrupted_run_leaves_whole_files",
    "test_evaluate_with_the_inception_features",
    "test_the_readme_python_example_runs",
    "test_cyclegan_translates_held_out_label_maps_3_db_above_the_best_trivial_baseline",
    "test_a_cyclegan_in_two_processes_trains_both_pairs_of_networks_as_one",
}


def pytest_collection_modifyitems(config, items):
    """Mark `slow` what `make test-fast` leaves out: the tests of the long shared runs and the long tests."""
    for item in items:
        if SLOW_FIXTURES & set(getattr(item, "fixturenames", ())) or item.originalname in SLOW_TESTS:
            item.add_marker(pytest.mark.slow)
