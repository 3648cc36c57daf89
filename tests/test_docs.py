"""Every command shown in README.md and docs/*.md is exercised, so that none goes stale.

The commands are collected from the fenced code blocks: every line of a ```sh / ```bash block, the `$ ` lines
of a ```console block, and in unlabelled or ```text blocks the lines that start with `ganforge `,
`python -m ganforge` or `make ` (a line ending in a backslash goes on on the next). `usage: ganforge ...`
lines of a ```text block are synopses. Each command falls in exactly one category (`category()`), and a
command that none handles fails `test_every_command_shown_is_handled`:

- run: `sample`, `translate`, `evaluate`, `report`, `health`, `export`, `info`, `presets` run for real
  through `ganforge.cli.main` on tiny runs trained once for the module; the docs' run folders (RUN_DIR,
  runs/digits, ...) become those runs, outputs go to a temporary folder, counts are made small.
- resolve: `ganforge train` without `--resume` parses, and the config it would train with is resolved
  as the train command resolves it, without training (the data are not read, so downloads and folders
  that exist only on the reader's machine are fine). The files it names are written from the docs' own
  JSON blocks (seed 002's config.json and model_configs.json).
- parse only: `ganforge train --resume ...` (it would train on), `ganforge evaluate --features inception`
  (the Inception weights are a download), `--help`.
- torchrun: torch's own torchrun parser reads the launcher's options; the ganforge part is resolved.
- make: the targets and variables named exist in the Makefile.
- script: `python benchmarks/X.py` / `bash benchmarks/X.sh`: the script exists and has each option named.

The ```python blocks: the README's example runs (also where a page repeats it); the onnxruntime example runs
on a file the docs' export command writes; the plug-in example is left to tests/test_plugins.py. The ```json
blocks are resolved as configs.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import ganforge
from ganforge.cli import build_parser, main
from ganforge.config.flags import TRAIN_FLAGS

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

SHELL = {"sh", "bash", "shell"}
PREFIXES = ("ganforge ", "python -m ganforge", "make ")
RUN_COMMANDS = {"sample", "translate", "evaluate", "report", "health", "export", "info", "presets"}
NOISE, PAIRED, CONDITIONAL, UNPAIRED = "noise_run", "paired_run", "conditional_run", "unpaired_run"
UPSCALE = "upscale_run"
# The run folders the docs name, and the tiny run each stands for (translate takes an image-to-image one).
RUN_FOLDERS = {
    "RUN_DIR": NOISE,
    "runs/digits": NOISE,
    "runs/cats": NOISE,
    "runs/small": NOISE,
    "runs/shapes": PAIRED,
    "runs/restore": PAIRED,
    "runs/cond": CONDITIONAL,
    "runs/horse2zebra": UNPAIRED,
    "runs/srresnet": UPSCALE,
    "runs/srgan": UPSCALE,
}


@dataclass(frozen=True)
class Shown:
    """A command, a synopsis or a block as a page shows it."""

    file: str
    line: int
    text: str
    lang: str = ""

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"


def _blocks(path: Path) -> list[tuple[str, int, list[str]]]:
    """The fenced code blocks of a page: (language, line of the first content line, lines)."""
    found, lang, start, lines = [], None, 0, []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        fence = re.match(r"^\s*```\s*([\w+-]*)", line)
        if fence and lang is None:
            lang, start, lines = fence.group(1).lower(), number + 1, []
        elif fence and line.strip() == "```":
            found.append((lang, start, lines))
            lang = None
        elif lang is not None:
            lines.append(line)
    assert lang is None, f"{path.name}: a code block is not closed"
    return found


def _joined(lines: list[str], start: int) -> list[tuple[int, str]]:
    """(line number, text) of each logical line, a trailing backslash joining the next."""
    out: list[tuple[int, str]] = []
    pending: tuple[int, str] | None = None
    for offset, line in enumerate(lines):
        if pending is not None:
            number, text = pending
            text = f"{text} {line.strip()}"
        else:
            number, text = start + offset, line.strip()
        if text.endswith("\\"):
            pending = (number, text[:-1].rstrip())
            continue
        pending = None
        out.append((number, text))
    if pending is not None:
        out.append(pending)
    return out


def _collect() -> tuple[list[Shown], list[Shown], list[Shown], list[Shown]]:
    """Commands, synopses, python blocks and json blocks of every page."""
    commands, usages, python, jsons = [], [], [], []
    for path in DOCS:
        name = str(path.relative_to(ROOT))
        for lang, start, lines in _blocks(path):
            if lang == "python":
                python.append(Shown(name, start, "\n".join(lines), lang))
                continue
            if lang == "json":
                jsons.append(Shown(name, start, "\n".join(lines), lang))
                continue
            if lang in ("", "text"):  # usage: lines, and their indented continuations
                for offset, line in enumerate(lines):
                    if line.startswith("usage: ganforge"):
                        rest = [line]
                        for following in lines[offset + 1 :]:
                            if not following.startswith(" "):
                                break
                            rest.append(following)
                        text = " ".join(re.sub(r"\s#\s.*$", "", r).strip() for r in rest)  # comments dropped
                        usages.append(Shown(name, start + offset, text, lang))
            for number, text in _joined(lines, start):
                if lang in SHELL and text and not text.startswith("#"):
                    commands.append(Shown(name, number, text, lang))
                elif lang == "console" and text.startswith("$ "):
                    commands.append(Shown(name, number, text[2:], lang))
                elif lang in ("", "text") and text.startswith(PREFIXES):
                    commands.append(Shown(name, number, text, lang))
    return commands, usages, python, jsons


COMMANDS, USAGES, PYTHON, JSONS = _collect()


def _id(shown: Shown) -> str:
    return shown.where


def _words(shown: Shown) -> list[str]:
    return shlex.split(shown.text, comments=True)


def _torchrun(words: list[str]) -> argparse.Namespace:
    from torch.distributed.run import get_args_parser

    return get_args_parser().parse_args(words[1:])


def ganforge_argv(shown: Shown) -> list[str] | None:
    """The arguments after `ganforge` of a command that runs ganforge, else None."""
    words = _words(shown)
    if words[:1] == ["ganforge"]:
        return words[1:]
    if words[:3] == ["python", "-m", "ganforge"]:
        return words[3:]
    if words[:1] == ["torchrun"]:
        args = _torchrun(words)
        return list(args.training_script_args) if args.module and args.training_script == "ganforge" else None
    return None


def category(shown: Shown) -> str | None:
    """The one way a shown command is exercised, or None if no test handles it."""
    words = _words(shown)
    if not words:
        return None
    if words[0] == "make":
        return "make"
    if words[0] in ("python", "bash") and len(words) > 1 and words[1].startswith("benchmarks/"):
        return "script"
    if words[:2] == ["python", "-m"] and len(words) > 2 and words[2].startswith("tests."):
        return "script"
    argv = ganforge_argv(shown)
    if argv is None or not argv:
        return None
    if "-h" in argv or "--help" in argv:
        return "parse only: help"
    if argv[0] == "train":
        if "--resume" in argv:
            return "parse only: --resume would train"
        return "torchrun" if words[0] == "torchrun" else "resolve"
    if argv[0] == "evaluate" and "inception" in argv:
        return "parse only: the Inception weights are a download"
    if argv[0] in RUN_COMMANDS:
        return "run"
    if argv[0] == "prepare":
        return "prepare"
    return None


def of(kind: str) -> list[Shown]:
    return [c for c in COMMANDS if category(c) == kind]


def test_every_command_shown_is_handled():
    assert len(COMMANDS) > 40 and len(USAGES) >= 10, "the collection of commands from the docs broke"
    unhandled = [f"{c.where}: {c.text}" for c in COMMANDS if category(c) is None]
    assert not unhandled, "commands that no test exercises (add a category in tests/test_docs.py):\n" + "\n".join(
        unhandled
    )
    for shown in PYTHON:
        assert _python_kind(shown) is not None, f"{shown.where}: a python block that no test handles"
    for shown in JSONS:
        assert _json_kind(shown) is not None, f"{shown.where}: a json block that no test handles"


# -- parsing ------------------------------------------------------------------------------------------------


def _parse(shown: Shown, argv: list[str]) -> argparse.Namespace:
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err):
            return build_parser().parse_args(argv)
    except SystemExit as e:
        if e.code == 0 and ("-h" in argv or "--help" in argv):
            return argparse.Namespace()
        pytest.fail(f"{shown.where}: `{shown.text}` does not parse: {err.getvalue().strip()}")


@pytest.mark.parametrize("shown", [c for c in COMMANDS if ganforge_argv(c)], ids=_id)
def test_every_ganforge_command_parses(shown):
    _parse(shown, ganforge_argv(shown))


def test_every_option_is_in_a_synopsis_and_every_synopsis_option_exists():
    parser = build_parser()
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices
    shown: dict[str, set[str]] = {}
    for usage in USAGES:
        words = usage.text.split()
        command = words[2]
        assert command in subparsers, f"{usage.where}: no command {command!r}"
        flags = set(re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", usage.text))
        known = {s for a in subparsers[command]._actions for s in a.option_strings}
        assert flags <= known, f"{usage.where}: {command} has no {', '.join(sorted(flags - known))}"
        shown.setdefault(command, set()).update(flags)
    for command, sub in subparsers.items():
        options = {s for a in sub._actions for s in a.option_strings if s.startswith("--")} - {"--help"}
        missing = options - shown.get(command, set())
        assert not missing, f"docs/commands.md: the synopsis of {command} lacks {', '.join(sorted(missing))}"


# -- train commands: the config they would train with -------------------------------------------------------


def _json_kind(shown: Shown) -> str | None:
    data = json.loads(shown.text)
    if "preset" in data:
        return "config file"
    if "train_data" in data:
        return "config.json"  # seed 002's
    if {"generator", "discriminator"} & data.keys():
        return "model_configs.json"  # seed 002's
    return None


@pytest.mark.parametrize("shown", JSONS, ids=_id)
def test_json_blocks_are_valid_configs(shown):
    kind = _json_kind(shown)
    assert kind is not None, f"{shown.where}: a json block that no test handles"
    if kind == "config file":
        ganforge.resolve_config(json.loads(shown.text))


# The train command's flags that are config keys, by their argparse names (cli.py's cmd_train).
def resolve_train(shown: Shown, a: argparse.Namespace) -> ganforge.Config:
    """The config `ganforge train` would train with, resolved as the CLI resolves it: every flag of the one
    table (config/flags.py) that sets a config key, by its name."""
    options = {f.name: getattr(a, f.name) for f in TRAIN_FLAGS if f.key}
    for flag in ("steps", "epochs"):
        assert options[flag] is None or options[flag] >= 1, f"{shown.where}: --{flag} must be positive"
    assert a.checkpoint is None, f"{shown.where}: --checkpoint needs --resume"
    try:
        return ganforge.resolve_config(
            a.config or "dcgan-mnist", model_configs=a.model_configs, overrides=a.set, **options
        )
    except ganforge.UserError as e:
        pytest.fail(f"{shown.where}: `{shown.text}` does not resolve: {e}")


def _seed002_files(folder: Path) -> dict[str, Path]:
    """Seed 002's two files, as the docs show them, written into `folder`."""
    files = {}
    for shown in JSONS:
        kind = _json_kind(shown)
        if kind in ("config.json", "model_configs.json"):
            (folder / kind).write_text(shown.text)
            files[kind] = folder / kind
    return files


@pytest.mark.parametrize("shown", of("resolve") + of("torchrun"), ids=_id)
def test_train_commands_resolve_to_a_config(shown, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    files = _seed002_files(tmp_path)  # a command's config.json / model_configs.json are the docs' own
    argv = ganforge_argv(shown)
    a = _parse(shown, argv)
    for name in (a.config, a.model_configs):
        if name is not None and name.endswith(".json"):
            assert name in files, f"{shown.where}: {name} is not one of the files the docs show"
    cfg = resolve_train(shown, a)
    if a.steps is not None:
        assert cfg.train.steps == a.steps
    if a.config == "config.json":
        assert cfg.model.family == "unet", f"{shown.where}: seed 002's config.json read as another family"


def test_torchrun_options_parse():
    for shown in of("torchrun"):
        args = _torchrun(_words(shown))
        assert args.module and args.training_script == "ganforge", f"{shown.where}: torchrun does not run ganforge"


# -- commands on a run folder, run for real -----------------------------------------------------------------


@pytest.fixture(scope="module")
def noise_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("docs") / "digits"
    overrides = ["model.width=8", "health.diversity_samples=0"]
    ganforge.train("dcgan-mnist", data="digits", steps=20, out=out, quiet=True, overrides=overrides)
    return out


@pytest.fixture(scope="module")
def conditional_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("docs") / "cond"
    overrides = ["model.width=8", "model.blocks=1", "model.conditional=true", "health.diversity_samples=0"]
    ganforge.train("r3gan-digits", steps=6, out=out, quiet=True, overrides=overrides)
    return out


@pytest.fixture(scope="module")
def paired_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("docs") / "restore"
    overrides = ["model.n_channels=8", "model.n_levels=2", "model.d_width=4", "data.image_size=32",
                 "health.diversity_samples=0"]  # fmt: skip
    ganforge.train("unet-restore", steps=10, out=out, quiet=True, overrides=overrides)
    return out


@pytest.fixture(scope="module")
def unpaired_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("docs") / "horse2zebra"
    overrides = ["model.width=8", "model.blocks=1", "data.image_size=32", "train.batch_size=2"]
    ganforge.train("cyclegan-shapes", steps=4, out=out, quiet=True, overrides=overrides)
    return out


@pytest.fixture(scope="module")
def upscale_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("docs") / "srgan"
    overrides = ["model.width=8", "model.blocks=1", "data.image_size=32", "train.batch_size=4"]
    ganforge.train("srresnet-x2", data="shapes", steps=4, out=out, quiet=True, overrides=overrides)
    return out


def _write_images(folder: Path, n: int, size: int = 32) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(n):
        Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(folder / f"image_{i:03d}.png")


OUTPUTS = ("--out", "--output", "--grid", "--input")


def run_argv(shown: Shown, request, folder: Path) -> list[str]:
    """The command's arguments with the docs' run folder replaced by a tiny run, paths kept in `folder`
    (inputs written there) and counts made small."""
    argv = ganforge_argv(shown)
    command, args = argv[0], list(argv[1:])
    if command in ("presets",) or (command == "info" and args[0].rstrip("/") not in RUN_FOLDERS):
        return argv
    given = args[0].rstrip("/")
    assert given in RUN_FOLDERS, f"{shown.where}: {given!r} is no run folder tests/test_docs.py knows"
    image_to_image = RUN_FOLDERS[given] in (PAIRED, UNPAIRED, UPSCALE)
    args[0] = str(
        request.getfixturevalue(PAIRED if command == "translate" and not image_to_image else RUN_FOLDERS[given])
    )
    for i, word in enumerate(args[:-1]):
        value = args[i + 1]
        if word in OUTPUTS and (value.startswith(("/", "~"))):
            args[i + 1] = value = str(folder / Path(value).name)
        if word == "--input":
            if Path(value).suffix:
                _write_images(folder / Path(value).parent, 1)
                (folder / Path(value).parent / "image_000.png").rename(folder / value)
            else:
                _write_images(folder / value, 2)
        if word == "--n":
            args[i + 1] = str(min(int(value), 4))
        if word == "--images":
            args[i + 1] = "50"
    if command == "evaluate" and "--images" not in args:
        args += ["--images", "50"]
    return [command, *args]


_done: dict[tuple[str, ...], str] = {}  # argv already run in this module: the same command runs once


@pytest.mark.parametrize("shown", of("run"), ids=_id)
def test_run_folder_commands_run(shown, request, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    argv = run_argv(shown, request, tmp_path)
    key = tuple(a.replace(str(tmp_path), "TMP") for a in argv)
    if key in _done:
        return
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        status = main(argv)
    assert status == 0, f"{shown.where}: `{shown.text}` ended with {status}: {err.getvalue().strip()}"
    _done[key] = shown.where


# -- make targets and scripts -------------------------------------------------------------------------------


def test_make_targets_and_variables_exist():
    makefile = (ROOT / "Makefile").read_text()
    targets = set(re.findall(r"^([A-Za-z][\w-]*)\s*:(?!=)", makefile, re.M))
    variables = set(re.findall(r"^([A-Z][A-Z0-9_]*)\s*[:?+]?=", makefile, re.M))
    for shown in of("make"):
        for word in _words(shown)[1:]:
            if "=" in word:
                assert word.split("=")[0] in variables, f"{shown.where}: the Makefile has no variable {word}"
            else:
                assert word in targets, f"{shown.where}: the Makefile has no target {word!r}"


def test_benchmark_scripts_exist_with_their_options():
    for shown in of("script"):
        words = _words(shown)
        if words[1] == "-m":  # a module of the test tree: python -m tests.catalogue.bad_inputs
            words = [words[0], words[2].replace(".", "/") + ".py", *words[3:]]
        script = ROOT / words[1]
        assert script.is_file(), f"{shown.where}: no {words[1]}"
        for flag in (w for w in words[2:] if w.startswith("--")):
            assert flag in script.read_text(), f"{shown.where}: {words[1]} has no {flag}"


# -- python blocks ------------------------------------------------------------------------------------------


def _readme_example() -> Shown:
    examples = [p for p in PYTHON if p.file == "README.md"]
    assert len(examples) == 1, "README.md should show one Python example"
    return examples[0]


def _python_kind(shown: Shown) -> str | None:
    if shown.text == _readme_example().text:
        return "the README's example"
    if "onnxruntime" in shown.text:
        return "onnxruntime"
    if "register_family(" in shown.text:
        return "plug-ins: tests/test_plugins.py registers each kind of plug-in"
    return None


def test_the_readme_python_example_runs(tmp_path, monkeypatch):
    example = _readme_example()
    steps = [int(n) for n in re.findall(r"steps=(\d+)", example.text)]
    assert steps and max(steps) <= 200, "keep the README's example cheap: steps=200 or fewer"
    monkeypatch.chdir(tmp_path)
    _write_images(tmp_path / "my_images", 40)  # the reader's own folder of images
    names: dict = {"__name__": "readme_example"}
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        exec(compile(example.text, example.where, "exec"), names)
    assert tuple(names["images"].shape) == (16, 1, 28, 28)  # as its comment says
    assert (tmp_path / "runs" / "digit.png").is_file() and (tmp_path / "runs" / "mine" / "config.json").is_file()


def test_the_onnxruntime_example_runs_on_the_exported_file(noise_run, tmp_path, monkeypatch):
    examples = [p for p in PYTHON if _python_kind(p) == "onnxruntime"]
    assert examples, "the onnxruntime example is gone: drop this test"
    monkeypatch.chdir(tmp_path)
    exports = [c for c in of("run") if "generator.onnx" in ganforge_argv(c)]
    assert exports, "no export command of the docs writes generator.onnx, which the onnxruntime example reads"
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(["export", str(noise_run), "--out", "generator.onnx"]) == 0
    for example in examples:
        names: dict = {"__name__": "onnx_example"}
        exec(compile(example.text, example.where, "exec"), names)
        assert names["images"].shape == (16, 1, 28, 28) and names["pixels"].dtype == np.uint8


def _folder_for(source: str, root: Path) -> None:
    """A small folder of the layout the docs' prepare command packs (class subfolders, splits, two sides)."""
    name = source.rstrip("/")
    folder = Path(name).expanduser()
    if not source_argv(name):
        for label in ("cats", "dogs"):
            _write_images(folder / label, 3)
        (root / "labels.csv").write_text(
            "".join(f"{d}/image_{i:03d}.png,{d}\n" for d in ("cats", "dogs") for i in range(3))
        )
        return
    for split in ("train", "test"):
        if source_argv(name) == "paired":
            _write_images(folder / split, 3, size=32)
        else:
            for side in "AB":
                _write_images(folder / f"{split}{side}", 3)


def source_argv(name: str) -> str:
    """The layout the docs pack the folder `name` as."""
    for c in of("prepare"):
        argv = ganforge_argv(c)
        if argv[1].rstrip("/") == name:
            return argv[argv.index("--layout") + 1] if "--layout" in argv else ""
    return ""


@pytest.mark.parametrize("shown", of("prepare"), ids=_id)
def test_prepare_commands_pack_a_folder(shown, tmp_path, monkeypatch, capsys):
    """Each `ganforge prepare` the docs show, run on a small folder of the layout it names."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path))  # ~/data/photos: under this test's folder
    argv = ganforge_argv(shown)
    _folder_for(argv[1], tmp_path)
    assert main(argv) == 0, capsys.readouterr().err
    out = Path(argv[argv.index("--out") + 1]).expanduser()
    assert (out / "dataset.json").is_file() and not out.with_name(out.name + ".partial").exists()
