"""`data_starved`: the step waits for its data (`data_wait` in metrics.jsonl) more than health.starved_above."""

from __future__ import annotations

import time

import ganforge
from ganforge.data.folder import ImageFolder
from ganforge.jsonio import read_lines
from tests.conftest import tiny_overrides
from tests.train.test_health_detector import HEALTHY, feed, rows
from tests.train.test_loop import write_folder


def test_the_detector_reads_the_share_of_time_waited_for_data():
    starved = feed(rows(**HEALTHY, data_wait=lambda i: 0.7))
    assert [e.kind for e in starved] == ["data_starved"] and starved[0].step == 200  # warm-up 100, window 200
    assert "70% of the time" in starved[0].message and "ganforge prepare" in starved[0].advice
    assert feed(rows(**HEALTHY, data_wait=lambda i: 0.7 if i % 5 else 0.1)) == []  # each line of the window
    assert feed(rows(**HEALTHY, data_wait=lambda i: 0.7), ["health.starved_above=0.8"]) == []
    assert feed(rows(**HEALTHY, data_wait=lambda i: 0.0)) == []


def slow_training(tmp_path, monkeypatch, data, delay):
    real = ImageFolder._load

    def slow(self, i):
        time.sleep(delay)
        return real(self, i)

    monkeypatch.setattr(ImageFolder, "_load", slow)
    overrides = [*tiny_overrides(), "data.num_workers=0", "health.warmup=0", "health.window=6"]
    run = ganforge.train("dcgan", data=str(data), steps=16, out=tmp_path / "run", overrides=overrides, quiet=True)
    return run.dir


def test_a_run_whose_data_come_slowly_is_told_so(tmp_path, monkeypatch):
    run = slow_training(tmp_path, monkeypatch, write_folder(tmp_path / "imgs", n=16), delay=0.03)
    lines, events = read_lines(run / "metrics.jsonl"), read_lines(run / "events.jsonl")
    waits = sorted(r["data_wait"] for r in lines[1:])  # the first window also holds the step-0 checkpoint
    assert waits[len(waits) // 2] > 0.6  # 8 x 30 ms a batch against a step of a few ms
    assert "data_starved" in [e["kind"] for e in events]
    verdict = ganforge.health(run)["verdict"]
    assert any(line.startswith("starved of data: the step waited for its data") for line in verdict), verdict


def test_embedded_data_never_wait(tmp_path):
    overrides = [*tiny_overrides(), "health.warmup=0", "health.window=6"]
    run = ganforge.train("dcgan", data="digits", steps=16, out=tmp_path / "run", overrides=overrides, quiet=True)
    assert [r["data_wait"] for r in read_lines(run.dir / "metrics.jsonl")] == [0.0] * 8
    assert "data_starved" not in [e["kind"] for e in read_lines(run.dir / "events.jsonl")]
    assert "fed: the step waited for its data 0%" in "\n".join(ganforge.health(run.dir)["verdict"])
