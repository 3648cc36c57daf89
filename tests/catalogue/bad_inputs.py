"""Bad and unusual inputs given to the command line as a new user would, and how each ends, as JSON.

    python -m tests.catalogue.bad_inputs [--out bad_inputs.json] [--keep]

Each case runs `ganforge ...` in this process (so the run is minutes, not an hour of start-ups) in a
scratch folder, and ends in one of:
  clean      exit status 2 and one line `ganforge: error: ...` (argparse's own usage line and error
             count too), and no file of an earlier run changed;
  handled    an input that should work (a CMYK or 16-bit image, ...) worked;
  accepted   an input that should be refused was taken (exit 0);
  traceback  an exception escaped, or a refusal was not one clear line;
  damaged    a refusal changed a file of the run it was given.
The summary counts each; `cases` lists every case with its ending and the line it printed.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import json
import os
import pickle
import shutil
import struct
import sys
import tempfile
import traceback
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

from ganforge.runs.folder import RunLock
from tests.catalogue.bad_inputs_runs import run_cases

TINY = ["--set", "model.width=8", "--set", "train.log_every=1", "--quiet"]
DCGAN = ["train", "dcgan", "--data", "digits", "--image-size", "32", "--steps", "1", "--batch-size", "4", *TINY]


def png_claiming(width: int, height: int) -> bytes:
    """A PNG whose header claims width x height (a decompression bomb's header) and holds no pixels."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b"")


def noise(size=(40, 40), seed=0) -> Image.Image:
    return Image.fromarray((np.random.default_rng(seed).random((*size[::-1], 3)) * 255).astype("uint8"))


def folder_with(root: Path, name: str, make) -> str:
    """A folder of 12 good images plus one made by `make(path)`."""
    folder = root / "folders" / name
    folder.mkdir(parents=True)
    for i in range(12):
        noise(seed=i).save(folder / f"good{i}.png")
    make(folder)
    return str(folder)


def scratch_data(root: Path) -> dict[str, str]:
    def bad(name: str, data: bytes):
        return lambda f: (f / name).write_bytes(data)

    def image(name: str, img_fn):
        return lambda f: img_fn().save(f / name)

    good_png = (lambda b: b.getvalue())(_saved(noise(), "PNG"))
    good_jpg = _saved(noise(), "JPEG").getvalue()
    makers = {
        "zero_byte": bad("z.png", b""),
        "text_as_png": bad("t.png", b"hello"),
        "truncated_png": bad("tr.png", good_png[: len(good_png) // 2]),
        "truncated_jpeg": bad("tr.jpg", good_jpg[: len(good_jpg) // 2]),
        "random_bytes": bad("r.jpg", os.urandom(3000)),
        "bomb_header": bad("bomb.png", png_claiming(30_000, 30_000)),
        "one_pixel": image("dot.png", lambda: Image.new("RGB", (1, 1))),
        "thin_line": image("line.png", lambda: Image.new("RGB", (400, 2))),
        "cmyk": image("c.jpg", lambda: noise().convert("CMYK")),
        "sixteen_bit": image(
            "d.png", lambda: Image.fromarray((np.random.default_rng(0).random((40, 40)) * 65535).astype("uint16"))
        ),
        "palette_transparent": lambda f: noise().convert("P").save(f / "p.png", transparency=0),
        "rgba": image("a.png", lambda: noise().convert("RGBA")),
        "grey": image("g.png", lambda: noise().convert("L")),
        "huge_ok": image("big.png", lambda: Image.new("RGB", (4000, 3000))),
        "hidden_file": bad("._mac.png", b"resource fork"),
        "non_image_file": bad("readme.txt", b"notes"),
        "upper_ext": image("UP.PNG", noise),
        "symlink_loop": lambda f: os.symlink(f / "loop", f / "loop"),
        "webp": image("w.webp", noise),
        "bmp": image("b.bmp", noise),
        "gif_animated": lambda f: noise().save(f / "an.gif"),
    }
    return {name: folder_with(root, name, make) for name, make in makers.items()}


def _saved(img: Image.Image, fmt: str) -> io.BytesIO:
    buffer = io.BytesIO()
    img.save(buffer, fmt)
    return buffer


ACCEPTED_FOLDERS = {"cmyk", "sixteen_bit", "palette_transparent", "rgba", "grey", "huge_ok", "hidden_file",
                    "non_image_file", "upper_ext", "webp", "bmp", "gif_animated", "symlink_loop"}  # fmt: skip


def cases(root: Path, folders: dict[str, str], runs: dict[str, str]) -> list[tuple]:
    """(name, argv, expected: refuse or accept, the run whose files must not change or '', and optionally a
    folder another process holds locked)."""
    out: list[tuple[str, list[str], str, str]] = []
    base = [*DCGAN, "--out", str(root / "new")]
    bad_values = {
        "train.g_optim.lr": ["-1", "0", "nan", "inf", "abc"], "train.d_optim.beta1": ["1", "-0.1", "2"],
        "train.d_optim.beta2": ["1.0"], "train.g_optim.eps": ["0", "-1e-8"], "train.g_optim.name": ["adamw2"],
        "train.batch_size": ["0", "-4", "2.5", "x"], "train.seed": ["x"], "train.log_every": ["0", "-1"],
        "train.steps": ["-5"], "train.epochs": ["-1"], "train.d_steps": ["-1"], "loss.gan": ["hinge2"],
        "loss.l1": ["-100"], "loss.label_smoothing": ["1", "-0.5"], "loss.gp": ["-1"], "data.image_size": ["0", "-32"],
        "data.channels": ["2", "4"], "data.direction": ["sideways"], "data.bad_images": ["lenient"],
        "model.family": ["resnet"], "model.width": ["0"], "train.precision": ["fp8"], "train.device": ["tpu"],
        "train.nope": ["1"], "nope.key": ["1"], "train": ["1"], "health.stop_on": ["boredom"],
        "eval.best_metric": ["beauty"], "eval.features": ["clip"], "train.ema": ["nan"],
        "train.replay_prob": ["inf"], "data.num_workers": ["x"],
    }  # fmt: skip
    for key, values in bad_values.items():
        out += [(f"--set {key}={v}", [*base, "--set", f"{key}={v}"], "refuse", "") for v in values]
    out += [("--set without =", [*base, "--set", "train.lr"], "refuse", "")]
    flags = {"--steps": ["0", "-1", "x"], "--epochs": ["0"], "--batch-size": ["0", "-1"], "--image-size": ["0", "37"],
             "--device": ["mps", "cuda:99x", "gpu"], "--data": ["", "nowhere/", "digitz"], "--degrade": ["noise=0.1"],
             "--precision": ["fp8"], "--eval-every": ["-4"], "--best-metric": ["beauty"], "--logger": ["neptune"],
             "--stop-on": ["boredom"]}  # fmt: skip
    for flag, values in flags.items():
        for v in values:
            argv = list(base)
            if flag in argv:
                argv[argv.index(flag) + 1] = v
            else:
                argv += [flag, v]
            out.append((f"{flag} {v!r}", argv, "refuse", ""))
    config = root / "configs"
    config.mkdir()
    for name, text in {"not_json": "{", "a_list": "[]", "unknown_key": '{"trian": {}}',
                       "bad_type": '{"train": {"steps": "many"}}', "bad_section": '{"train": 3}',
                       "bad_preset": '{"preset": "nope"}', "empty": "", "binary": "\x00\x01"}.items():  # fmt: skip
        (config / f"{name}.json").write_text(text)
        out.append(
            (f"config file {name}", ["train", str(config / f"{name}.json"), "--out", str(root / "new")], "refuse", "")
        )
    out += [("preset misspelt", ["train", "dcgn"], "refuse", ""),
            ("config path missing", ["train", "cfg/x"], "refuse", ""),
            ("config is a folder", ["train", str(config)], "refuse", "")]  # fmt: skip
    for name, folder in folders.items():
        # data.bad_images=skip is the default: an unusable file is left out and counted, the rest trains
        out.append((f"folder {name}", [*DCGAN, "--data", folder, "--out", str(root / f"f_{name}")], "accept", ""))
        if name not in ACCEPTED_FOLDERS:
            strict = [*DCGAN, "--data", folder, "--out", str(root / f"s_{name}"), "--set", "data.bad_images=strict"]
            out.append((f"folder {name}, strict", strict, "refuse", ""))
    run = runs["dcgan"]
    out += [
        ("--out is an existing run", [*DCGAN, "--out", run], "refuse", run),
        ("--out is a file", [*DCGAN, "--out", str(root / "file.txt")], "refuse", ""),
        ("--resume missing", ["train", "--resume", str(root / "nowhere")], "refuse", ""),
        ("--resume with --data", ["train", "--resume", run, "--data", "digits"], "refuse", run),
        ("--resume with --set", ["train", "--resume", run, "--set", "train.seed=3"], "refuse", run),
        ("--resume and --steps fewer", ["train", "--resume", run, "--steps", "0"], "refuse", run),
        ("sample --n 0", ["sample", run, "--n", "0", "--out", str(root / "smp")], "refuse", run),
        ("sample --out a file", ["sample", run, "--out", str(root / "file.txt")], "refuse", run),
        ("sample --grid a folder", ["sample", run, "--out", str(root / "smp2"), "--grid", str(root)], "refuse", run),
        ("sample --device mps", ["sample", run, "--out", str(root / "smp3"), "--device", "mps"], "refuse", run),
        ("sample not a run", ["sample", str(root), "--out", str(root / "smp4")], "refuse", ""),
        ("evaluate --split on dcgan", ["evaluate", run, "--split", "val"], "refuse", run),
        ("evaluate --images 0", ["evaluate", run, "--images", "0"], "refuse", run),
        ("evaluate --checkpoint missing", ["evaluate", run, "--checkpoint", "step_9"], "refuse", run),
        ("report --out a file's folder", ["report", run, "--out", str(root / "file.txt" / "r.html")], "refuse", run),
        ("health not a run", ["health", str(root)], "refuse", ""),
        ("export --format zip", ["export", run, "--format", "zip", "--out", str(root / "g.zip")], "refuse", run),
        ("export --batch 0", ["export", run, "--out", str(root / "g.onnx"), "--batch", "0"], "refuse", run),
        ("export --ema without EMA", ["export", run, "--out", str(root / "g2.onnx"), "--ema"], "refuse", run),
        ("export --out a folder", ["export", run, "--out", str(root)], "refuse", run),
        ("info unknown", ["info", "nothing-here"], "refuse", ""),
        ("translate on a dcgan", ["translate", run, "--input", folders["cmyk"], "--output", str(root / "t")],
         "refuse", run),
    ]  # fmt: skip
    p2p = runs["pix2pix"]
    out += [
        ("translate --output = --input", ["translate", p2p, "--input", folders["grey"], "--output", folders["grey"]],
         "refuse", p2p),
        ("translate --input missing", ["translate", p2p, "--input", str(root / "none"), "--output", str(root / "t2")],
         "refuse", p2p),
        ("translate a zero-byte image", ["translate", p2p, "--input", str(Path(folders["zero_byte"]) / "z.png"),
                                         "--output", str(root / "t3")], "refuse", p2p),
        ("evaluate --split val (no val/)", ["evaluate", p2p, "--split", "val"], "refuse", p2p),
        ("evaluate --data missing", ["evaluate", p2p, "--data", str(root / "none")], "refuse", p2p),
        ("translate --direction BtoA on pix2pix", ["translate", p2p, "--input", folders["grey"], "--output",
                                                  str(root / "t4"), "--direction", "BtoA"], "refuse", p2p),
        ("export --direction on a dcgan", ["export", run, "--out", str(root / "g3.onnx"), "--direction", "AtoB"],
         "refuse", run),
    ]  # fmt: skip
    half = root / "unpaired" / "half"
    noise().save((half / "trainA").mkdir(parents=True) or half / "trainA" / "x.png")
    cyclegan = ["train", "cyclegan-shapes", "--steps", "1", "--image-size", "32", *TINY, "--out", str(root / "cyc")]
    out += [
        ("cyclegan: trainA/ without trainB/", [*cyclegan, "--data", str(half)], "refuse", ""),
        ("cyclegan: a flat folder of images", [*cyclegan, "--data", folders["cmyk"]], "refuse", ""),
        ("cyclegan: no such folder", [*cyclegan, "--data", str(root / "none")], "refuse", ""),
        ("cyclegan: a U-Net at 48 px", [*cyclegan[:4], "--image-size", "48", "--set", "model.generator=unet",
                                        "--out", str(root / "cyc2")], "refuse", ""),
    ]  # fmt: skip
    (Path(run) / "checkpoints" / "empty.pt").write_bytes(b"")
    (Path(run) / "checkpoints" / "junk.pt").write_bytes(os.urandom(500))
    (root / "evil.pt").write_bytes(pickle.dumps(Evil()))
    out += [
        ("sample an empty checkpoint", ["sample", run, "--out", str(root / "s5"), "--checkpoint", "empty"],
         "refuse", run),
        ("sample a junk checkpoint", ["sample", run, "--out", str(root / "s6"), "--checkpoint", "junk"],
         "refuse", run),
        ("sample --grid not an image name", ["sample", run, "--out", str(root / "s7"), "--grid", "grid.txt"],
         "refuse", run),
        ("evaluate a malicious pickle", ["evaluate", run, "--checkpoint", str(root / "evil.pt")], "refuse", run),
    ]  # fmt: skip
    return out + run_cases(root, runs, folders, DCGAN, png_claiming(12_000, 12_000))


class Evil:
    """A pickle whose loading would run a command (it must never be loaded)."""

    def __reduce__(self):
        return (os.system, ("touch ganforge-bad-inputs-payload-ran",))


def digest(folder: str) -> dict[str, str]:
    if not folder:
        return {}
    return {
        str(p): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in Path(folder).rglob("*")
        if p.is_file() and p.name != "train.lock"
    }


def run_case(argv: list[str]) -> tuple[int | None, str, str | None]:
    from ganforge.cli import main

    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            code = main(argv)
    except SystemExit as e:  # argparse
        code = e.code if isinstance(e.code, int) else 2
    except BaseException:  # noqa: BLE001  (what the case is here to find)
        return None, err.getvalue(), traceback.format_exc(limit=-1).strip().splitlines()[-1]
    return code, err.getvalue(), None


def ending(expect: str, code: int | None, err: str, escaped: str | None, changed: bool) -> str:
    if escaped is not None or "Traceback" in err:
        return "traceback"
    if changed:
        return "damaged"
    if expect == "accept":
        return "handled" if code == 0 else "traceback"
    if code == 0:
        return "accepted"
    lines = [line for line in err.strip().splitlines() if line.strip()]
    errors = [line for line in lines if ": error: " in line]
    argparse_usage = lines and lines[0].startswith("usage:")
    one = len(errors) == 1 and (len(lines) == 1 or argparse_usage)
    return "clean" if code == 2 and one else "traceback"


def sweep(root: Path, verbose: bool = False) -> dict:
    """Every case, run in the scratch folder `root`; the report."""
    from ganforge.cli import main as cli

    cwd = os.getcwd()
    os.chdir(root)
    try:
        (root / "file.txt").write_text("a file")
        folders = scratch_data(root)
        pairs = root / "pairs"
        (pairs / "train").mkdir(parents=True)
        (pairs / "test").mkdir()
        for i in range(8):
            noise((64, 32), seed=i).save(pairs / "train" / f"{i}.png")
            noise((64, 32), seed=10 + i).save(pairs / "test" / f"{i}.png")
        runs = {"dcgan": str(root / "run_dcgan"), "pix2pix": str(root / "run_pix2pix")}
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            assert cli([*DCGAN, "--out", runs["dcgan"]]) == 0
            p2p = ["train", "pix2pix", "--data", str(pairs), "--image-size", "32", "--steps", "1", *TINY]
            assert cli([*p2p, "--out", runs["pix2pix"]]) == 0
        results = []
        for name, argv, expect, guarded, *held in cases(root, folders, runs):
            before = digest(guarded)
            with RunLock(held[0]) if held else contextlib.nullcontext():  # another process's claim on it
                code, err, escaped = run_case(argv)
            changed = bool(guarded) and expect == "refuse" and digest(guarded) != before
            end = ending(expect, code, err, escaped, changed)
            shown = escaped or next((ln for ln in err.splitlines() if ": error: " in ln), err.strip()[-200:])
            results.append({"case": name, "expect": expect, "ending": end, "exit": code, "said": shown})
            if verbose:
                print(f"{end:9s} {name}: {shown}", file=sys.stderr, flush=True)
    finally:
        os.chdir(cwd)
    endings = ("clean", "handled", "accepted", "traceback", "damaged")
    summary = {k: sum(r["ending"] == k for r in results) for k in endings}
    return {"benchmark": "bad_inputs", "tried": len(results), "summary": summary, "cases": results}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path)
    p.add_argument("--keep", action="store_true", help="keep the scratch folder")
    a = p.parse_args()
    root = Path(tempfile.mkdtemp(prefix="ganforge-bad-inputs-"))
    try:
        report = sweep(root, verbose=True)
    finally:
        if not a.keep:
            shutil.rmtree(root, ignore_errors=True)
    text = json.dumps(report, indent=2)
    if a.out:
        a.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
