"""The health detector on metrics lines made to show each condition, and on healthy ones."""

import math

import pytest

from ganforge.api import resolve_config
from ganforge.config.vocab import EVENT_KINDS
from ganforge.detector import Detector

CHANCE = math.log(2)


def rows(n=40, every=10, **series):
    """n metrics lines every `every` steps; each series is a function of the line's index."""
    out = []
    for i in range(n):
        row = {"step": (i + 1) * every, "epoch": i / 10, "images_per_s": 100.0}
        row.update({k: f(i) for k, f in series.items()})
        out.append(row)
    return out


HEALTHY = dict(
    d_loss=lambda i: 0.6 + 0.05 * math.sin(i),
    g_gan=lambda i: 0.9 + 0.05 * math.cos(i),
    grad_norm_G=lambda i: 0.1,
    grad_norm_D=lambda i: 0.5,
)


def feed(lines, overrides=(), recon=None, chance=CHANCE):
    cfg = resolve_config("dcgan", overrides=["health.warmup=100", *overrides])
    detector = Detector(cfg, chance, 0.0, recon)
    return [event for line in lines for event in detector.feed(line)]


def test_a_healthy_run_raises_nothing():
    assert feed(rows(**HEALTHY)) == []


def test_d_wins_once_while_it_holds_and_again_after_it_clears():
    d = lambda i: 0.02 if i < 30 or i >= 35 else 0.6  # noqa: E731
    events = feed(rows(60, **{**HEALTHY, "d_loss": d, "g_gan": lambda i: 1.0 + 0.1 * i}))
    assert [(e.kind, e.step) for e in events] == [("d_wins", 200), ("d_wins", 550)]
    assert events[0].values["d_loss"] == pytest.approx(0.02) and "train.d_optim.lr" in events[0].advice


def test_d_wins_needs_g_climbing_and_a_logistic_loss():
    flat = {**HEALTHY, "d_loss": lambda i: 0.02, "g_gan": lambda i: 3.0}
    assert feed(rows(**flat)) == []
    climbing = {**flat, "g_gan": lambda i: 1.0 + 0.1 * i}
    assert feed(rows(**climbing), chance=None) == []  # hinge, lsgan: no chance level to read losses against


def test_g_wins():
    events = feed(rows(**{**HEALTHY, "g_gan": lambda i: 0.03, "d_loss": lambda i: 0.7 + 0.05 * i}))
    assert [e.kind for e in events] == ["g_wins"]


def test_recon_stalled_after_two_windows_of_no_progress():
    falling = feed(rows(60, **{**HEALTHY, "g_l1": lambda i: 1.0 / (1 + i)}), recon="g_l1")
    assert falling == []
    stalled = feed(rows(60, **{**HEALTHY, "g_l1": lambda i: max(0.3, 1.0 - 0.05 * i)}), recon="g_l1")
    assert [e.kind for e in stalled] == ["recon_stalled"] and stalled[0].step > 400


def test_gradients_vanishing_and_exploding():
    events = feed(rows(**{**HEALTHY, "grad_norm_G": lambda i: 1e-7}))
    assert [e.kind for e in events] == ["grad_vanishing"]
    events = feed(rows(5, **{**HEALTHY, "grad_norm_D": lambda i: 5e3 if i == 3 else 1.0}))
    assert [(e.kind, e.step) for e in events] == [("grad_exploding", 40)]  # no warm-up for this one


def test_nonfinite_values_from_the_first_line():
    lines = rows(3, **HEALTHY)
    lines[1]["g_gan"] = None  # how metrics.jsonl holds a NaN
    events = feed(lines)
    assert [(e.kind, e.step) for e in events] == [("nonfinite", 20)] and "g_gan" in events[0].message


def test_mode_collapse_needs_consecutive_low_diversity_after_warmup():
    def with_diversity(values):
        lines = rows(60, **HEALTHY)
        for i, v in values.items():
            lines[i]["diversity"] = v
        return lines

    assert feed(with_diversity({5: 0.1, 9: 0.1, 24: 0.9, 49: 0.3})) == []  # early, then not in a row
    events = feed(with_diversity({24: 0.9, 34: 0.3, 44: 0.2}))
    assert [(e.kind, e.step) for e in events] == [("mode_collapse", 450)]
    assert events[0].values["diversity"] == 0.2


def test_mode_dropping_needs_imbalance_at_three_sample_steps_in_a_row_and_yields_to_mode_collapse():
    def with_probe(values):
        lines = rows(60, **HEALTHY)
        for i, (diversity, imbalance) in values.items():
            lines[i].update(diversity=diversity, mode_imbalance=imbalance, mode_excess=3.5)
        return lines

    early = {3: (0.9, 0.5), 5: (0.9, 0.5), 7: (0.9, 0.5)}  # before the warm-up
    broken = {14: (0.9, 0.4), 24: (0.9, 0.4), 34: (0.9, 0.3), 44: (0.9, 0.4), 54: (0.9, 0.4)}  # never 3 in a row
    assert feed(with_probe(early | broken)) == []
    held = {24: (0.9, 0.1), 34: (0.85, 0.36), 44: (0.85, 0.5), 54: (0.85, 0.4)}
    events = feed(with_probe(held))
    assert [(e.kind, e.step) for e in events] == [("mode_dropping", 550)]
    assert events[0].values == {"mode_imbalance": 0.4, "mode_excess": 3.5}
    assert "3.5x its real share" in events[0].message and "0.36, 0.50, 0.40" in events[0].message
    assert feed(with_probe(held), ["health.dropping_above=0.4"]) == []
    assert [e.step for e in feed(with_probe(held), ["health.dropping_checks=2"])] == [450]
    collapsed = feed(with_probe({24: (0.9, 0.1), 34: (0.3, 0.8), 44: (0.2, 0.9), 54: (0.2, 0.9)}))
    assert [e.kind for e in collapsed] == ["mode_collapse"]  # the severe case: one event


def test_mode_dropping_is_judged_in_the_second_half_of_the_run():
    cfg = resolve_config("dcgan", overrides=["health.warmup=100"])
    lines = rows(60, **HEALTHY)
    for i in (23, 33, 43, 53):  # steps 240, 340, 440, 540
        lines[i].update(diversity=0.9, mode_imbalance=0.5, mode_excess=2.0)

    def events(total_steps):
        detector = Detector(cfg, CHANCE, 0.0, None)
        detector.run_length(total_steps)
        return [(e.kind, e.step) for line in lines for e in detector.feed(line)]

    assert events(600) == [("mode_dropping", 540)]  # judged from step 300: 340, 440, 540
    assert events(1000) == []  # from step 500: one check


def test_the_detector_resumes_with_its_probe_history():
    cfg = resolve_config("dcgan", overrides=["health.warmup=100"])
    lines = rows(60, **HEALTHY)
    for i, imbalance in ((24, 0.1), (34, 0.5), (44, 0.5), (54, 0.5)):
        lines[i].update(diversity=0.9, mode_imbalance=imbalance, mode_excess=2.0)
    first = Detector(cfg, CHANCE, 0.0, None)
    assert [e.kind for line in lines[:50] for e in first.feed(line)] == []
    second = Detector(cfg, CHANCE, 0.0, None)
    second.load_state_dict(first.state_dict())
    assert [e.kind for line in lines[50:] for e in second.feed(line)] == ["mode_dropping"]
    old = first.state_dict()
    del old["imbalance"]  # a checkpoint written before mode_dropping
    Detector(cfg, CHANCE, 0.0, None).load_state_dict(old)


def test_near_copies_at_sample_steps_raise_memorising_once():
    cfg = resolve_config("dcgan", overrides=["health.warmup=100"])
    detector = Detector(cfg, CHANCE, 0.0, None)
    lines = rows(60, **HEALTHY)
    for i, copies in ((9, 0.0), (19, 0.1), (29, 0.6), (39, 0.8), (49, 0.1), (54, 0.5)):
        lines[i]["near_copies"] = copies
    events = [(e.kind, e.step, e.values) for line in lines for e in detector.feed(line)]
    assert events == [("memorising", 300, {"near_copies": 0.6}), ("memorising", 550, {"near_copies": 0.5})]


def test_event_kinds_are_the_documented_names():
    assert EVENT_KINDS == (
        "d_wins", "g_wins", "recon_stalled", "grad_vanishing", "grad_exploding", "nonfinite", "mode_collapse",
        "mode_dropping", "memorising", "data_starved",
    )  # fmt: skip
