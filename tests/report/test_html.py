import base64
import io
import json
import re
import shutil

import numpy as np
import pytest
import torch
from PIL import Image

import ganforge
from ganforge.errors import UserError
from ganforge.report.browser import dump_dom, find_chromium
from ganforge.report.grid import image_grid
from ganforge.report.html import write_report
from tests.conftest import tiny_overrides

EVENT = {"step": 6, "kind": "d_wins", "message": "D loss far below chance", "advice": "lower D's lr", "values": {}}
EVAL_OWN = {
    "fid": 123.4,
    "kid": 0.0567,
    "precision": 0.61,
    "recall": None,
    "extractor": "own",
    "images": 2000,
    "step": 8,
    "classes": {"counts": [1, 2, 3], "coverage": 7},
}
EVAL_PAIRED = {  # as ganforge evaluate writes it for an image-to-image run
    "model": {"l1": 0.12, "psnr": 21.5, "ssim": 0.71, "fid": 3.2, "images": 100},
    "baseline: input": {"l1": 0.3, "psnr": 15.2, "ssim": 0.4, "fid": 41.0, "images": 100},
    "extractor": "own",
    "step": 8,
}


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A tiny trained run plus what the eval hook and health watcher would add (written here by hand)."""
    out = tmp_path_factory.mktemp("report") / "run"
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a model this small trains faster on one thread, above all on a busy machine
    try:
        over = [*tiny_overrides(), "data.num_workers=0"]
        ganforge.train("dcgan", data="digits", steps=8, out=out, quiet=True, overrides=over)
    finally:
        torch.set_num_threads(threads)
    with (out / "metrics.jsonl").open("a") as f:
        f.write(json.dumps({"step": 8, "eval_fid": 150.0, "eval_kid": None, "eval_precision": 0.5}) + "\n")
        f.write('{"step": 10, "d_loss": 0.6')  # a line cut short by a run still writing
    (out / "events.jsonl").write_text(json.dumps(EVENT) + "\n")
    (out / "eval_own.json").write_text(json.dumps(EVAL_OWN))
    (out / "eval_val.json").write_text(json.dumps(EVAL_PAIRED))
    (out / "command.txt").write_text("ganforge train dcgan --data digits --steps 8\n")
    return out


@pytest.fixture(scope="module")
def report(run_dir):
    path = write_report(run_dir)
    return path, path.read_text()


def test_default_path_and_sections(run_dir, report):
    path, html = report
    assert path == run_dir / "report.html"
    for anchor in ("losses", "d-outputs", "grad-norms", "diversity", "eval-metrics", "events", "samples"):
        section = html.split(f'<section id="{anchor}">', 1)[1].split("</section>", 1)[0]
        assert '<img class="plot"' in section or anchor in ("events", "samples"), anchor
    for anchor in ("final-metrics", "config", "command", "log"):
        assert f'<section id="{anchor}">' in html
    assert "chance, 0.69" in html  # bce: the dashed log 2 line
    assert "<h1>run</h1>" in html and "dcgan" in html
    assert "&quot;family&quot;: &quot;dcgan&quot;" in html  # the config, pretty-printed
    assert "ganforge train dcgan --data digits --steps 8" in html
    assert "D loss far below chance" in html and "d_wins" in html
    assert "eval_own.json" in html and "123.4" in html and "[1, 2, 3]" in html
    assert "<th>baseline: input</th>" in html and "<th>psnr</th>" in html
    assert 'type="range" id="sample-slider"' in html
    assert 'class="strip"' in html


def test_self_contained(report):
    _, html = report
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:|//)""", html, re.I)
    assert not re.search(r"<script[^>]*\bsrc=", html, re.I)
    assert not re.search(r"<link\b", html, re.I)
    assert "@import" not in html and "url(" not in html
    sources = re.findall(r'<img[^>]*\bsrc="([^"]*)"', html)
    assert sources and all(s.startswith("data:image/png;base64,") for s in sources)


def test_half_written_run(run_dir, tmp_path):
    """A run that has logged nothing yet: empty metrics, no samples, no events, no eval, no command."""
    fresh = tmp_path / "fresh"
    (fresh / "checkpoints").mkdir(parents=True)
    shutil.copy(run_dir / "config.json", fresh / "config.json")
    (fresh / "metrics.jsonl").write_text("")
    html = write_report(fresh, tmp_path / "out" / "r.html").read_text()
    assert html.count("no data") == 5
    assert "not recorded" in html and "no sample grids yet" in html and "<img" not in html


def test_the_report_walks_the_latest_weights_through_the_noise(run_dir, tmp_path):
    html = ganforge.report(run_dir, tmp_path / "r.html").read_text()
    section = html.split('<section id="walk">', 1)[1].split("</section>", 1)[0]
    (uri,) = re.findall(r'src="data:image/png;base64,([^"]*)"', section)
    strip = np.asarray(Image.open(io.BytesIO(base64.b64decode(uri))))
    frames = ganforge.load(run_dir, device="cpu").walk(12, seed=0)
    assert strip.shape == np.asarray(image_grid(frames, 12)).shape  # one row of 12 frames
    assert (strip == np.asarray(image_grid(frames, 12))).all()
    assert (frames[1:] - frames[:-1]).abs().amax() > 0  # the frames move


def test_a_run_without_weights_says_why_it_has_no_walk(run_dir, tmp_path):
    fresh = tmp_path / "fresh"
    (fresh / "checkpoints").mkdir(parents=True)
    shutil.copy(run_dir / "config.json", fresh / "config.json")
    html = ganforge.report(fresh, tmp_path / "r.html").read_text()
    assert "no latent walk: no checkpoint yet" in html


def test_missing_run_dir(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        write_report(tmp_path / "nope")


def test_renders_in_chromium(report):
    if find_chromium() is None:
        pytest.fail(
            "no Chromium on PATH to check the report renders; install Debian's chromium: apt-get install chromium"
        )
    path, html = report
    dom = dump_dom(path)
    marker = re.search(r'data-rendered="([^"]*)"', dom)
    assert marker, "the report's render check did not run"
    images = html.count("<img")
    assert marker.group(1) == f"OK {images}/{images}", marker.group(1)
    assert 'id="sample-slider"' in dom
    assert re.search(r'<span id="sample-step">step 8</span>', dom)


def test_render_check_reports_a_broken_image(report, tmp_path):
    if find_chromium() is None:
        pytest.fail("no Chromium on PATH; install Debian's chromium: apt-get install chromium")
    _, html = report
    broken = tmp_path / "broken.html"
    broken.write_text(html.replace("<header>", '<header><img src="data:image/png;base64,AAAA" alt="broken one">', 1))
    marker = re.search(r'data-rendered="([^"]*)"', dump_dom(broken)).group(1)
    assert marker.startswith("FAIL ") and "broken one" in marker, marker
