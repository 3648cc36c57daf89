"""A trained generator's outputs written to files: `ganforge sample` (images to a folder and a grid, a batch
at a time, so that any number takes bounded memory) and `ganforge translate` (an image file or a folder);
every output path is checked before the first image."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm import tqdm

from ..config import check_seed
from ..data.images import as_channels, list_images, load_image, read_size, to_pil, to_tensor
from ..data.screening import check_pixels, pixel_limit
from ..errors import UserError
from ..models import generator_output_size
from ..report.grid import image_grid, save_grid
from ..runs.outputs import check_folder, check_image_file, check_outputs, check_outside_run, run_files
from ..runs.run import open_run
from .generator import Generator, load

MAX_GRID = 1024  # images in one grid
PNG_OVERHEAD = 1024  # bytes a PNG adds to an image's raw size, at most about


def write_samples(
    run: str | Path,
    n: int,
    out: Path,
    grid: Path | None = None,
    seed: int = 0,
    device: str = "auto",
    checkpoint: str | None = None,
    labels: list[str] | None = None,
    truncation: float = 1.0,
) -> Path | None:
    """`n` PNGs sample_00000.png ... in `out` (and all of them in one `grid` image); returns the grid.
    `labels` (a conditional run): n images of each class named (a number, a name, or "all"), written as
    class03_00000.png ..., one grid row per class."""
    if n <= 0:
        raise UserError(f"--n must be positive, got {n}")
    check_seed(seed, "--seed")
    run_dir, cfg = open_run(run)
    check_folder(out, "--out", run_dir)
    g = load(run_dir, device=device, checkpoint=checkpoint)
    classes = _requested_classes(g, labels)
    total = n * len(classes)
    if grid is not None:
        check_image_file(grid, "--grid")
        check_outside_run(grid, run_dir, "--grid")
        if total > MAX_GRID:
            most = MAX_GRID // len(classes)
            raise UserError(f"--grid shows {MAX_GRID} images at most; give --n {most} or fewer, or drop --grid")
        if grid.absolute().parent.resolve() == out.absolute().resolve() and grid.name.startswith(("sample_", "class")):
            raise UserError(f"--grid {grid} would take a sample's name in --out; name the grid otherwise")
        check_outputs([(grid, Path("the grid"))], run_files(run_dir), "--grid")
    need = total * (cfg.data.channels * cfg.data.image_size**2 + PNG_OVERHEAD)
    existing = next(p for p in [out, *out.absolute().parents] if p.exists())
    free = shutil.disk_usage(existing).free
    if need > free:
        raise UserError(
            f"--n {n} needs about {need / 2**20:,.0f} MB in {out} and {free / 2**20:,.0f} MB are free; give a "
            "smaller --n or free some space"
        )
    out.mkdir(parents=True, exist_ok=True)
    width, digits = max(5, len(str(n - 1))), len(str(max(len(g.classes) - 1, 0)))
    shown = []
    for k in classes:
        prefix = "sample" if k is None else f"class{k:0{digits}d}"
        i = 0
        for batch in g.batches(n, seed=seed, label=k, truncation=truncation):
            for image in g.to_pil(batch):
                image.save(out / f"{prefix}_{i:0{width}d}.png")
                i += 1
            if grid is not None:
                shown.append(batch)
    if grid is None:
        return None
    return save_grid(torch.cat(shown), grid, n if labels else max(1, round(n**0.5)))


def _requested_classes(g: Generator, labels: list[str] | None) -> list[int | None]:
    """The classes to sample, each a class number: those named, every class for "all", [None] for none."""
    if not labels:
        return [None]
    if not g.classes:
        raise UserError("this run's generator is not conditional: it takes no --label (train with model.conditional)")
    if "all" in labels:
        return list(range(len(g.classes)))
    return [g.class_id(label) for label in labels]


def write_walk(
    run: str | Path, frames: int, out: Path, seed: int = 0, label: str | None = None, truncation: float = 1.0,
    device: str = "auto", checkpoint: str | None = None,
) -> Path:  # fmt: skip
    """A latent walk of `frames` images (Generator.walk): an animated GIF, or one strip for another image
    file name."""
    check_image_file(out, "--out")
    run_dir, _ = open_run(run)
    check_outside_run(out, run_dir, "--out")
    g = load(run_dir, device=device, checkpoint=checkpoint)
    images = g.walk(frames, seed=seed, label=label, truncation=truncation)
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix.lower() != ".gif":
        return save_grid(images, out, len(images))
    first, *rest = g.to_pil(images)
    first.save(out, save_all=True, append_images=rest, duration=120, loop=0)
    return out


WALK_FRAMES = 12  # frames of each walk in the report
WALK_ROWS = 10  # classes walked in the report, at most


def walk_strip(run_dir: Path, frames: int = WALK_FRAMES) -> bytes:
    """The report's latent walk as PNG bytes: a strip of `frames` images along a closed loop through the
    noise (Generator.walk) from the run's latest weights; a conditional run gets one strip per class (the
    first WALK_ROWS), the same noise in each, so the rows differ only by their class."""
    g = load(run_dir, device="cpu")
    labels = list(range(min(len(g.classes), WALK_ROWS))) if g.classes else [None]
    images = torch.cat([g.walk(frames, seed=0, label=k) for k in labels])
    buf = io.BytesIO()
    image_grid(images, frames).save(buf, format="PNG")
    return buf.getvalue()


FIT_MODES = ("resize", "pad")


def _fit(x: torch.Tensor, size: int, mode: str) -> torch.Tensor:
    """resize: scale to the training size; pad: keep the resolution, reflect-pad to a multiple of the
    training size (a multiple of the U-Net's total stride: it is fully convolutional)."""
    if mode == "resize":
        return F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
    h, w = x.shape[-2:]
    ph, pw = -h % size, -w % size
    return F.pad(x, (0, pw, 0, ph), mode="reflect" if min(h, w) > max(ph, pw) else "replicate")


def translate_image(g: Generator, image: torch.Tensor, mode: str = "resize", direction: str = "AtoB") -> torch.Tensor:
    """One input (C, H, W) in [-1, 1] -> the output at the input's own size (an upscaler's: larger)."""
    if g.config.task == "upscale":
        return g.upscale(image.unsqueeze(0))[0]
    size = g.config.data.image_size
    h, w = image.shape[-2:]
    if mode == "pad" and generator_output_size(g.config) != size:
        raise UserError("--fit pad needs a generator whose output has its input's size; use --fit resize")
    x = _fit(image.unsqueeze(0), size, mode)
    y = g.translate(x, direction=direction)
    if mode == "resize":
        return F.interpolate(y, size=(h, w), mode="bilinear", align_corners=False, antialias=True)[0]
    return y[0, :, :h, :w]


def translate_files(
    g: Generator, source: Path, output: Path, mode: str = "resize", side_by_side: bool = False, direction: str = "AtoB"
) -> int:
    """Translate an image file or every image under a folder (`direction`: of an unpaired run, either way);
    outputs keep the inputs' relative names."""
    if g.config.task == "unconditional":
        raise UserError("this run generates from noise; use ganforge sample instead of translate")
    g.translator(direction)  # a wrong direction fails before any file is read
    if mode not in FIT_MODES:
        raise UserError(f"unknown --fit {mode!r}; choose one of {', '.join(FIT_MODES)}")
    if not source.exists():
        raise UserError(f"input {source} does not exist; give an image file or a folder of images")
    files = [source] if source.is_file() else list_images(source)
    if not files:
        raise UserError(f"input folder {source} holds no images; put png/jpg/webp/bmp files in it")
    root = source.parent if source.is_file() else source
    jobs = [((output / path.relative_to(root)).with_suffix(".png"), path) for path in files]
    check_folder(output, "--output")
    check_outputs(jobs, files, "--output")
    limit = pixel_limit(g.config.data.max_pixels, g.config.data.image_size)
    for _, path in jobs:  # every input's header before the first output: a bomb is refused, not decoded
        check_pixels(path, *read_size(path), limit, "translate it at a smaller size first")
    for dest, path in tqdm(jobs, unit="img", disable=len(files) < 2):
        image = to_tensor(load_image(path, g.input_channels))
        out = translate_image(g, image, mode, direction)
        if side_by_side:  # an upscaler's input enlarged by repeating its pixels, to show what it added
            shown = F.interpolate(image.unsqueeze(0), size=out.shape[-2:], mode="nearest")[0]
            out = torch.cat([as_channels(shown, out.shape[0]), out], dim=-1)
        dest.parent.mkdir(parents=True, exist_ok=True)
        to_pil(out).save(dest)
    return len(files)
