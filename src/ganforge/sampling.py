"""`ganforge sample`: images from a trained generator written to a folder (and a grid), a batch at a time,
so that any number of images takes bounded memory; every output path is checked before the first image."""

from __future__ import annotations

import shutil
from pathlib import Path

import torch

from .api import load
from .config import check_seed
from .errors import UserError
from .outputs import check_folder, check_image_file, check_outputs, check_outside_run, run_files
from .report.grid import save_grid
from .train.run_dir import open_run

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
) -> Path | None:
    """`n` PNGs sample_00000.png ... in `out` (and all of them in one `grid` image); returns the grid."""
    if n <= 0:
        raise UserError(f"--n must be positive, got {n}")
    check_seed(seed, "--seed")
    run_dir, cfg = open_run(run)
    check_folder(out, "--out", run_dir)
    if grid is not None:
        check_image_file(grid, "--grid")
        check_outside_run(grid, run_dir, "--grid")
        if n > MAX_GRID:
            raise UserError(f"--grid shows {MAX_GRID} images at most; give --n {MAX_GRID} or fewer, or drop --grid")
        if grid.absolute().parent.resolve() == out.absolute().resolve() and grid.name.startswith("sample_"):
            raise UserError(f"--grid {grid} would take a sample's name in --out; name the grid otherwise")
        check_outputs([(grid, Path("the grid"))], run_files(run_dir), "--grid")
    need = n * (cfg.data.channels * cfg.data.image_size**2 + PNG_OVERHEAD)
    existing = next(p for p in [out, *out.absolute().parents] if p.exists())
    free = shutil.disk_usage(existing).free
    if need > free:
        raise UserError(
            f"--n {n} needs about {need / 2**20:,.0f} MB in {out} and {free / 2**20:,.0f} MB are free; give a "
            "smaller --n or free some space"
        )
    g = load(run_dir, device=device, checkpoint=checkpoint)
    out.mkdir(parents=True, exist_ok=True)
    width = max(5, len(str(n - 1)))
    shown, i = [], 0
    for batch in g.batches(n, seed=seed):
        for image in g.to_pil(batch):
            image.save(out / f"sample_{i:0{width}d}.png")
            i += 1
        if grid is not None:
            shown.append(batch)
    if grid is None:
        return None
    return save_grid(torch.cat(shown), grid, max(1, round(n**0.5)))
