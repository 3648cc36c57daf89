"""`ganforge report RUN_DIR`: one self-contained HTML page about a run (plots and sample grids inline as
data: URIs, no network), readable while the run is still training or from a run made by an older version.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import json
import math
import re
from html import escape
from pathlib import Path
from typing import Any

from PIL import Image

from ..config import Config
from ..detector import events_from_metrics
from ..errors import UserError
from ..files import atomic_write, read_inside
from ..jsonio import loads, parse_lines
from ..losses import ADVERSARIAL_LOSSES
from ..runs.layout import COMMAND, CONFIG, EVENTS, GRID_FILE, LOG, METRICS, RunLayout, closest_pairs_path
from ..runs.run import open_run
from . import figures

MAX_FRAMES = 120  # sample grids in the slider; a longer run keeps an even selection (first and last included)
THUMBNAILS = 6
LOG_TAIL = 40

STYLE = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0 auto;max-width:1200px;padding:0 16px 40px;
color:#222}
h1{margin-bottom:4px}h2{border-bottom:1px solid #ddd;padding-bottom:3px;margin-top:32px}
.meta{color:#555}.note{color:#777;font-style:italic}
img.plot{max-width:100%}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(540px,1fr));column-gap:24px}
table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ddd;padding:3px 8px;text-align:left;
vertical-align:top}th{background:#f4f4f4}td.num{text-align:right;font-variant-numeric:tabular-nums}
pre{background:#f7f7f7;padding:8px;overflow-x:auto;font-size:12px}
.strip{display:flex;gap:10px;flex-wrap:wrap}.strip figure{margin:0;text-align:center}
.strip img{width:150px;image-rendering:pixelated}.strip figcaption{font-size:12px;color:#555}
#sample-frames img{max-width:100%;width:420px;image-rendering:pixelated}
#sample-slider{width:420px}
img.walk,img.pairs{max-width:100%;width:840px;image-rendering:pixelated}
"""

SLIDER_JS = """
(function () {
  var slider = document.getElementById("sample-slider");
  if (!slider) return;
  var frames = document.querySelectorAll("#sample-frames img");
  var label = document.getElementById("sample-step");
  function show() {
    var i = Number(slider.value);
    frames.forEach(function (f, k) { f.hidden = k !== i; });
    label.textContent = "step " + frames[i].dataset.step;
  }
  slider.addEventListener("input", show);
  show();
})();
"""

# After every image has loaded (or failed), says so in <body data-rendered="OK n/n"> for a headless check.
RENDER_CHECK_JS = """
window.addEventListener("load", function () {
  var imgs = Array.prototype.slice.call(document.images);
  var bad = imgs.filter(function (i) { return !(i.complete && i.naturalWidth > 0); });
  var text = (bad.length ? "FAIL " : "OK ") + (imgs.length - bad.length) + "/" + imgs.length;
  if (bad.length) text += ": " + bad.map(function (i) { return i.alt || "image"; }).join(", ");
  document.body.dataset.rendered = text;
  document.getElementById("render-check").textContent = "images rendered: " + text;
});
"""


def write_report(run_dir: str | Path, out: str | Path | None = None, walk: bytes | str | None = None) -> Path:
    """Writes the report of `run_dir` to `out` (default RUN_DIR/report.html) and returns its path. `walk`:
    a latent walk of the generator as PNG bytes, or why there is none (text), or None for no section."""
    path, cfg = open_run(run_dir)
    if read_inside(path, path / CONFIG) is None:
        raise UserError(f"{path}/config.json is a link that leads out of the run; a report shows the run's own files")
    target = Path(out) if out is not None else RunLayout(path).report
    return atomic_write(target, render_report(path, cfg, walk))  # a reader never sees half a page


def render_report(path: Path, cfg: Config, walk: bytes | str | None = None) -> str:
    rows = parse_lines(_text(path, METRICS) or "", key="step")
    events, source = _events(path, cfg, rows)
    chance = _chance(cfg)
    chance_note = f"dashed line: D's loss at chance, {chance:.2f}" if chance is not None else "no chance level"
    curves = [  # side by side on a wide screen
        _plot("losses", "Losses", figures.loss_figure(rows, chance, events), f"{chance_note}; dotted: events"),
        _plot("d-outputs", "D outputs", figures.d_output_figure(rows)),
        _plot("grad-norms", "Gradient norms", figures.grad_norm_figure(rows)),
    ]
    if cfg.data.ada_target:
        curves.append(_plot("ada", "Adaptive augmentation", figures.augmentation_figure(rows, cfg.data.ada_target)))
    sections = [
        _header(path, cfg, rows),
        f'<div class="grid">{"".join(curves)}</div>',
        _plot("diversity", "Diversity and modes", figures.diversity_figure(rows), "logged at sample steps only"),
        _plot("eval-metrics", "Metrics over training", figures.eval_figure(rows), "eval_* keys of metrics.jsonl"),
        _events_section(events, source),
        _samples(path),
        _walk(walk),
        _final_metrics(path),
        _config(path),
        _command(path),
        _log_tail(path),
    ]
    title = escape(f"ganforge report: {path.resolve().name}")
    return (
        f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<title>{title}</title>\n'
        f"<style>{STYLE}</style>\n</head>\n"
        f'<body data-rendered="pending">\n{"".join(sections)}\n'
        f'<p id="render-check" class="note">images rendered: not checked (JavaScript is off)</p>\n'
        f"<script>{SLIDER_JS}{RENDER_CHECK_JS}</script>\n</body>\n</html>\n"
    )


# ----------------------------------------------------------------------------------------------- sections


def _text(run: Path, name: str) -> str | None:
    """A run file's text (bytes that are not UTF-8 replaced), or None where it is missing or a link that
    leads out of the run: a page meant to be shared shows nothing from outside its run."""
    data = read_inside(run, run / name)
    return None if data is None else data.decode("utf-8", errors="replace")


def _section(anchor: str, title: str, body: str) -> str:
    return f'<section id="{anchor}">\n<h2>{escape(title)}</h2>\n{body}\n</section>\n'


def _note(text: str) -> str:
    return f'<p class="note">{escape(text)}</p>'


def _plot(anchor: str, title: str, uri: str | None, caption: str = "") -> str:
    if uri is None:
        return _section(anchor, title, _note("no data"))
    body = f'<img class="plot" src="{uri}" alt="{escape(title)} plot">'
    return _section(anchor, title, body + (_note(caption) if caption else ""))


def _header(path: Path, cfg: Config, rows: list[dict]) -> str:
    steps = [r["step"] for r in rows if isinstance(r.get("step"), (int, float))]
    target = f"of {cfg.train.steps}" if cfg.train.steps else f"of {cfg.train.epochs} epochs"
    speeds = [r["images_per_s"] for r in rows if isinstance(r.get("images_per_s"), (int, float))]
    facts = {
        "family": cfg.model.family,
        "preset": cfg.preset or "none",
        "data": cfg.data.name,
        "adversarial loss": cfg.loss.gan,
        "steps logged": f"{steps[-1] if steps else 0} {target}",
        "started": _started(path),
        "last update": _mtime(path / METRICS) or "no metrics yet",
        "report written": dt.datetime.now().strftime("%Y-%m-%d %H:%M:%S"),
    }
    if speeds:
        facts["images/s (median)"] = f"{sorted(speeds)[len(speeds) // 2]:.1f}"
    items = " · ".join(f"<b>{escape(k)}</b> {escape(str(v))}" for k, v in facts.items())
    name = escape(path.resolve().name)
    return (
        f'<header>\n<h1>{name}</h1>\n<p class="meta">{items}</p>\n<p class="meta">{escape(str(path))}</p>\n</header>\n'
    )


def _started(path: Path) -> str:
    """The first time stamp of log.txt, else when config.json was written."""
    log = _text(path, LOG)
    match = re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", log or "")
    if match:
        return match.group(0)
    return _mtime(path / CONFIG) or "unknown"


def _mtime(path: Path) -> str | None:
    return dt.datetime.fromtimestamp(path.stat().st_mtime).strftime("%Y-%m-%d %H:%M:%S") if path.is_file() else None


def _chance(cfg: Config) -> float | None:
    """D's loss at chance (log 2 = 0.69 for the logistic losses), if the adversarial loss has one."""
    if cfg.loss.gan not in ADVERSARIAL_LOSSES:
        return None
    return getattr(ADVERSARIAL_LOSSES.get(cfg.loss.gan), "chance", None)


def _events(path: Path, cfg: Config, rows: list[dict]) -> tuple[list[dict], str]:
    logged = _text(path, EVENTS)
    if logged is not None:
        return parse_lines(logged), "events.jsonl"
    try:
        found = [e.to_dict() for e in events_from_metrics(cfg, rows)]
    except Exception:  # an old or odd run: the report still shows everything else
        return [], "no events.jsonl"
    return found, "no events.jsonl; found again from metrics.jsonl by the health detector"


def _events_section(events: list[dict], source: str) -> str:
    if not events:
        return _section("events", "Events", _note(f"no health events ({source})"))
    head = "<tr><th>step</th><th>kind</th><th>message</th><th>advice</th><th>values</th></tr>"
    body = "".join(
        f"<tr><td class=num>{_fmt(e.get('step'))}</td><td>{escape(str(e.get('kind', '')))}</td>"
        f"<td>{escape(str(e.get('message', '')))}</td><td>{escape(str(e.get('advice', '')))}</td>"
        f"<td>{_fmt(e.get('values', ''))}</td></tr>"
        for e in events
    )
    return _section("events", "Events", f"<table>{head}{body}</table>{_note(f'source: {source}')}")


def _grids(path: Path) -> list[tuple[int, str]]:
    """(step, data: URI) of each complete sample grid, in step order."""
    found = sorted((int(GRID_FILE.fullmatch(p.name).group(1)), p) for p in RunLayout(path).grids())
    if len(found) > MAX_FRAMES:
        pick = {round(i * (len(found) - 1) / (MAX_FRAMES - 1)) for i in range(MAX_FRAMES)}
        found = [f for i, f in enumerate(found) if i in pick]
    grids = []
    for step, p in found:
        data = read_inside(path, p)
        if data is None:
            continue
        try:
            with Image.open(io.BytesIO(data)) as im:
                im.verify()  # a grid that is not a whole PNG is left out
            grids.append((step, figures.data_uri(data)))
        except Exception:
            continue
    return grids


def _samples(path: Path) -> str:
    grids = _grids(path)
    if not grids:
        return _section("samples", "Samples", _note("no sample grids yet"))
    last = len(grids) - 1
    frames = "".join(
        f'<img src="{uri}" data-step="{step}" alt="samples at step {step}"{"" if i == last else " hidden"}>'
        for i, (step, uri) in enumerate(grids)
    )
    slider = (
        f'<p><input type="range" id="sample-slider" min="0" max="{last}" value="{last}" step="1" '
        f'aria-label="sample step"> <span id="sample-step">step {grids[-1][0]}</span></p>'
        f'<div id="sample-frames">{frames}</div>'
    )
    count = min(THUMBNAILS, len(grids))
    picks = sorted({round(i * last / max(count - 1, 1)) for i in range(count)})
    thumbs = "".join(
        f'<figure><img src="{grids[i][1]}" alt="thumbnail, step {grids[i][0]}">'
        f"<figcaption>step {grids[i][0]}</figcaption></figure>"
        for i in picks
    )
    body = f'{slider}<h3>Evolution</h3><div class="strip">{thumbs}</div>'
    return _section(
        "samples", "Samples", body + _note(f"{len(grids)} grid{'s' if len(grids) > 1 else ''} from samples/")
    )


def _walk(walk: bytes | str | None) -> str:
    if walk is None:
        return ""
    if isinstance(walk, str):
        return _section("walk", "Latent walk", _note(f"no latent walk: {walk}"))
    body = f'<img class="walk" src="{figures.data_uri(walk)}" alt="latent walk">'
    note = "a closed loop through four points of the noise, from the latest weights; a row per class"
    return _section("walk", "Latent walk", body + _note(note + " when the run is conditional"))


def _final_metrics(path: Path) -> str:
    files = RunLayout(path).eval_files()
    if not files:
        return _section("final-metrics", "Final metrics", _note("no eval_*.json (run ganforge evaluate)"))
    parts = []
    for f in files:
        try:
            data = loads(_text(path, f.name) or "")
        except ValueError:
            parts.append(f"<h3>{escape(f.name)}</h3>{_note('could not be read (not JSON, or a link out of the run)')}")
            continue
        parts.append(f"<h3>{escape(f.name)}</h3>{metrics_table(data)}{_closest_pairs(path, f)}")
    return _section("final-metrics", "Final metrics", "".join(parts))


def _closest_pairs(path: Path, results: Path) -> str:
    """The evaluation's generated images nearest to a training image, above those training images."""
    data = read_inside(path, closest_pairs_path(results))
    if data is None:
        return ""
    body = f'<img class="pairs" src="{figures.data_uri(data)}" alt="closest pairs">'
    note = "memorisation: top, the generated images nearest a training image (closest first); below, that image"
    return f"<h4>Closest to training images</h4>{body}{_note(note)}"


def metrics_table(data: Any) -> str:
    """A table of an eval JSON: a dict of rows (each a dict) as one row each, else one key and value a row;
    a nested dict becomes a table in its cell."""
    if isinstance(data, dict) and data and all(isinstance(v, dict) for v in data.values()):
        columns = list(dict.fromkeys(k for row in data.values() for k in row))
        head = "<tr><th></th>" + "".join(f"<th>{escape(str(c))}</th>" for c in columns) + "</tr>"
        body = "".join(
            f"<tr><th>{escape(str(name))}</th>" + "".join(_cell(row.get(c, "")) for c in columns) + "</tr>"
            for name, row in data.items()
        )
        return f"<table>{head}{body}</table>"
    if data == {}:
        return _note("empty")
    if isinstance(data, dict):
        body = "".join(f"<tr><th>{escape(str(k))}</th>{_cell(v)}</tr>" for k, v in data.items())
        return f"<table>{body}</table>"
    return f"<pre>{escape(json.dumps(data, indent=2))}</pre>"


def _cell(value: Any) -> str:
    if isinstance(value, dict):
        return f"<td>{metrics_table(value) if value else ''}</td>"
    num = isinstance(value, (int, float)) and not isinstance(value, bool)
    return f"<td{' class=num' if num else ''}>{_fmt(value)}</td>"


def _fmt(value: Any, items: int = 12) -> str:
    """A value as short escaped text: floats to 4 significant digits, long lists cut, null as –."""
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.4g}" if math.isfinite(value) else str(value)
    if isinstance(value, (list, tuple)):
        shown = ", ".join(_fmt(v) for v in value[:items])
        more = f", … ({len(value)} in all)" if len(value) > items else ""
        return f"[{shown}{more}]"
    if isinstance(value, dict):
        return ", ".join(f"{escape(str(k))}: {_fmt(v)}" for k, v in value.items())
    return escape(str(value))


def _config(path: Path) -> str:
    text = _text(path, CONFIG) or "not shown: config.json is a link that leads out of the run"
    with contextlib.suppress(ValueError):
        text = json.dumps(loads(text), indent=2)
    body = f"<details open><summary>config.json</summary><pre>{escape(text)}</pre></details>"
    return _section("config", "Config", body)


def _command(path: Path) -> str:
    cmd = _text(path, COMMAND)
    if cmd is None:
        return _section("command", "Command", _note("not recorded (or a link out of the run)"))
    return _section("command", "Command", f"<pre>{escape(cmd.strip())}</pre>")


def _log_tail(path: Path) -> str:
    log = _text(path, LOG)
    if log is None:
        return _section("log", "Log", _note("no log.txt (or a link out of the run)"))
    lines = log.splitlines()[-LOG_TAIL:]
    summary = f"log.txt, last {len(lines)} lines"
    return _section(
        "log", "Log", f"<details><summary>{summary}</summary><pre>{escape(chr(10).join(lines))}</pre></details>"
    )
