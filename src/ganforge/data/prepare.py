"""`ganforge prepare`: a folder of images packed once into the format of data/packed.py.

Each image is decoded, screened (data.bad_images: the same policy as training on the folder), oriented,
converted, resized and cropped once, as training on the folder would at every epoch, and appended to the
arrays of `DATA.partial/`. Every couple of seconds the arrays are flushed to the disk and `progress.json`
records how far they are whole, so an interrupted pack resumes where it stopped (the same command again);
at the end the array headers get their final counts, `dataset.json` is written, and the folder is renamed to
`DATA`. A set is never read before that rename.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from ..config.vocab import BAD_IMAGE_POLICIES
from ..errors import UserError
from ..files import atomic_write, fsync_path
from .folder import ImageFolder
from .images import CROPS, fit_square, load_image
from .labels import _read_labels_file, folder_labels
from .packed import FORMAT, MANIFEST, PARTIAL, VERSION
from .paired import SPLITS, MissingSplit, PairedFolder
from .screening import Screen
from .unpaired import side_folders

LAYOUTS = ("images", "paired", "unpaired")
PLAN, PROGRESS = "plan.json", "progress.json"
COMMIT_SECONDS = 2.0  # how often the arrays are flushed and the progress recorded


@dataclass
class Job:
    """Items written in lock step to the arrays `arrays` (the two sides of a pair, or one array of images):
    `load(k)` gives item k's uint8 (H, W, C) images, or raises a UserError for a file it cannot use."""

    split: str
    arrays: list[str]
    names: list[str]
    load: Callable[[int], list[np.ndarray]]
    screen: Screen
    labels: list[int] | None = None
    files: dict[str, str] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return f"{self.split}_{'_'.join(self.arrays)}"

    def plan(self) -> dict[str, Any]:
        return {"key": self.key, "names": self.names, "labels": self.labels}


def prepare(src: str | Path, out: str | Path, image_size: int = 64, channels: int = 3, crop: str = "center",
            layout: str = "images", labels: str = "", max_images: int = 0, bad_images: str = "skip",
            quiet: bool = False) -> Path:  # fmt: skip
    """Pack the images of `src` into `out` (module doc); returns `out`. `labels`: "from-folders" (or a
    labels.csv beside the images), a CSV file of rows `relative/path.png,label`, or "" for none."""
    src, out = Path(src).expanduser(), Path(out).expanduser()
    _check_options(src, out, image_size, channels, crop, layout, labels, max_images, bad_images)
    jobs, class_names = _jobs(src, image_size, channels, crop, layout, labels, max_images, bad_images)
    partial = out.with_name(out.name + PARTIAL)
    plan = {"format": FORMAT, "source": str(src.resolve()), "layout": layout, "image_size": image_size,
            "channels": channels, "crop": crop, "class_names": class_names}  # fmt: skip
    plan["jobs"] = [j.plan() for j in jobs]
    progress = _start(partial, plan)
    total = sum(len(j.names) for j in jobs)
    done = sum(progress.get(j.key, {}).get("next", 0) for j in jobs)
    bar = tqdm(total=total, initial=done, unit="image", desc=f"packing {out.name}", disable=quiet)
    try:
        for job in jobs:
            progress[job.key] = _write(job, partial, progress, image_size, channels, bar)
    except KeyboardInterrupt:
        raise KeyboardInterrupt(f"packing stopped; {partial} keeps what is done: the same command goes on") from None
    except OSError as e:  # a full disk: what was committed stays
        raise UserError(
            f"could not write {partial} ({e.strerror or e}); free some space, then the same command goes on"
        ) from None
    finally:
        bar.close()
    manifest = _finish(partial, jobs, progress, plan, unsplit=_unsplit(src, layout))
    for name in (PLAN, PROGRESS):
        (partial / name).unlink()
    atomic_write(partial / MANIFEST, json.dumps(manifest, indent=1) + "\n")
    os.replace(partial, out)
    fsync_path(out.parent)
    return out


def _check_options(src: Path, out: Path, size: int, channels: int, crop: str, layout: str, labels: str,
                   max_images: int, bad_images: str) -> None:  # fmt: skip
    if not src.is_dir():
        raise UserError(f"{src} is not a folder; give ganforge prepare the folder that holds the images")
    if out.exists():
        raise UserError(f"{out} already exists; give --out a new folder (or remove {out} to pack again)")
    if out.resolve().is_relative_to(src.resolve()):
        raise UserError(f"--out {out} lies inside the source {src}; write the packed set elsewhere")
    checks = [
        (crop in CROPS, f"--crop {crop!r}: choose one of {', '.join(CROPS)}"),
        (layout in LAYOUTS, f"--layout {layout!r}: choose one of {', '.join(LAYOUTS)}"),
        (channels in (1, 3), f"--channels {channels}: choose 1 (grey) or 3 (RGB)"),
        (8 <= size <= 4096, f"--image-size {size}: choose a size from 8 to 4096 pixels"),
        (max_images >= 0, f"--max-images {max_images}: give a positive number, or 0 for all"),
        (bad_images in BAD_IMAGE_POLICIES, f"--bad-images {bad_images!r}: choose {' or '.join(BAD_IMAGE_POLICIES)}"),
        (not labels or layout == "images", "--labels works with --layout images (class-conditional training)"),
    ]
    for ok, text in checks:
        if not ok:
            raise UserError(text)


def _jobs(src: Path, size: int, channels: int, crop: str, layout: str, labels: str, max_images: int,
          bad_images: str) -> tuple[list[Job], list[str] | None]:  # fmt: skip
    """What to write, split by split (only `train` for a plain folder of images)."""
    if layout == "images":
        folder = ImageFolder(src, size, channels, bad_images)
        paths = folder.paths[: max_images or None]
        names = [p.relative_to(src).with_suffix("").as_posix() for p in paths]
        job = Job("train", ["images"], names, _loader(paths, size, channels, crop), folder.screen)
        if not labels:
            return [job], None
        numbers, class_names = folder_labels(src, paths) if labels == "from-folders" else _labels(labels, src, paths)
        job.labels = numbers.tolist()
        return [job], class_names
    jobs = []
    for split in SPLITS:
        try:
            jobs.extend(_split_jobs(src, split, size, channels, crop, layout, max_images, bad_images))
        except MissingSplit:
            continue
        if _unsplit(src, layout):
            break
    if not jobs:
        raise UserError(f"{src} holds no {layout} data in train/, val/ or test/ folders")
    return jobs, None


def _loader(paths: list[Path], size: int, channels: int, crop: str) -> Callable[[int], list[np.ndarray]]:
    return lambda k: [_fit(load_image(paths[k], channels), size, crop)]


def _labels(path: str, src: Path, paths: list[Path]):
    file = Path(path).expanduser()
    if not file.is_file():
        raise UserError(f"--labels {path}: no such file; give 'from-folders' or a CSV file of rows 'file,label'")
    return _read_labels_file(file, src, paths)


def _split_jobs(src: Path, split: str, size: int, channels: int, crop: str, layout: str, max_images: int,
                bad_images: str) -> list[Job]:  # fmt: skip
    if layout == "paired":
        pairs = PairedFolder(src, split, "AtoB", size, None, channels, channels, bad_images)
        chosen = pairs.pairs[: max_images or None]

        def load(k: int) -> list[np.ndarray]:
            return [_fit(half, size, crop) for half in pairs._load_halves(chosen[k])]

        return [Job(split, ["a", "b"], [p.name for p in chosen], load, pairs.screen)]
    jobs = []
    for side, folder in zip("ab", side_folders(src, split)[:2], strict=True):
        images = ImageFolder(folder, size, channels, bad_images)
        paths = images.paths[: max_images or None]
        names = [p.relative_to(folder).with_suffix("").as_posix() for p in paths]
        jobs.append(Job(split, [side], names, _loader(paths, size, channels, crop), images.screen))
    return jobs


def _unsplit(src: Path, layout: str) -> bool:
    """Whether the source has no split folders (then every split of the set reads its train arrays)."""
    if layout == "images":
        return True
    return not any((src / s).is_dir() or (src / f"{s}A").is_dir() or (src / "A" / s).is_dir() for s in SPLITS)


def _fit(img, size: int, crop: str) -> np.ndarray:
    arr = np.asarray(fit_square(img, size, crop), dtype=np.uint8)
    return arr[:, :, None] if arr.ndim == 2 else arr


def _start(partial: Path, plan: dict[str, Any]) -> dict[str, Any]:
    """The progress of an unfinished pack of the same plan, or a fresh partial folder."""
    if partial.exists():
        try:
            same = json.loads((partial / PLAN).read_text(encoding="utf-8")) == plan
            progress = json.loads((partial / PROGRESS).read_text(encoding="utf-8")) if same else None
        except (OSError, ValueError):
            same, progress = False, None
        if not same:
            raise UserError(
                f"{partial} holds an unfinished pack of other images or options; run the command that started it "
                f"to finish it, or remove {partial}"
            )
        return progress or {}
    partial.mkdir(parents=True)
    atomic_write(partial / PLAN, json.dumps(plan) + "\n")
    atomic_write(partial / PROGRESS, "{}\n")
    return {}


def _npy_header(shape: tuple[int, ...], dtype: str, length: int = 0) -> bytes:
    """A NumPy .npy (version 1.0) header for a C-order array, padded to `length` bytes if given (a header
    rewritten with a smaller count keeps its length, so the data after it stay where they are)."""
    text = repr({"descr": np.dtype(dtype).str, "fortran_order": False, "shape": shape})
    size = length or -(-(10 + len(text) + 1) // 64) * 64
    body = text.ljust(size - 10 - 1) + "\n"
    return b"\x93NUMPY\x01\x00" + (len(body)).to_bytes(2, "little") + body.encode("latin1")


def _files(job: Job, size: int, channels: int) -> dict[str, tuple[str, tuple[int, ...], str]]:
    """Each file a job writes: name -> (kind, the shape of one item, dtype)."""
    files = {f"{job.split}_{a}.npy": ("npy", (size, size, channels), "|u1") for a in job.arrays}
    files[f"{job.split}_{'pairs' if len(job.arrays) == 2 else job.arrays[0]}.txt"] = ("txt", (), "")
    if job.labels is not None:
        files[f"{job.split}_labels.npy"] = ("npy", (), "<i8")
    return files


def _write(job: Job, partial: Path, progress: dict, size: int, channels: int, bar: tqdm) -> dict[str, Any]:
    """Append job's items from where its progress stops; returns the job's final progress."""
    state = progress.get(job.key) or {"next": 0, "count": 0, "bytes": {}, "skipped": []}
    specs = _files(job, size, channels)
    handles = {}
    for name, (kind, item, dtype) in specs.items():
        path = partial / name
        committed = state["bytes"].get(name)
        if committed is None:  # a new file: a header for every candidate item, fixed when the job ends
            header = _npy_header((len(job.names), *item), dtype) if kind == "npy" else b""
            path.write_bytes(header)
            committed = state["bytes"][name] = len(header)
        handles[name] = f = path.open("r+b")
        f.truncate(committed)  # what an interrupted pack wrote after its last commit
        f.seek(committed)
    last = time.monotonic()
    try:
        for k in range(state["next"], len(job.names)):
            try:
                images = job.load(k)
            except UserError as error:
                job.screen.reject(error)  # strict: stops here, with the progress so far kept
                state["skipped"].append(str(error))
                images = None
            if images is not None:
                for name, (kind, _, _) in specs.items():
                    handles[name].write(_item_bytes(name, kind, job, k, images))
                state["count"] += 1
            state["next"] = k + 1
            bar.update(1)
            if time.monotonic() - last > COMMIT_SECONDS:
                _commit(partial, progress, job.key, state, handles)
                last = time.monotonic()
        _commit(partial, progress, job.key, state, handles)
    finally:
        for f in handles.values():
            f.close()
    return state


def _item_bytes(name: str, kind: str, job: Job, k: int, images: list[np.ndarray]) -> bytes:
    if kind == "txt":
        return (job.names[k] + "\n").encode("utf-8")
    if name.endswith("_labels.npy"):
        return np.int64(job.labels[k]).tobytes()  # type: ignore[index]
    part = name.removesuffix(".npy").split("_", 1)[1]
    return np.ascontiguousarray(images[job.arrays.index(part)]).tobytes()


def _commit(partial: Path, progress: dict, key: str, state: dict, handles: dict) -> None:
    """The files flushed to the disk, then the progress that counts them as whole."""
    for name, f in handles.items():
        f.flush()
        os.fsync(f.fileno())
        state["bytes"][name] = f.tell()
    progress[key] = state
    atomic_write(partial / PROGRESS, json.dumps(progress) + "\n")


def _finish(partial: Path, jobs: list[Job], progress: dict, plan: dict, unsplit: bool) -> dict[str, Any]:
    """The headers given their final counts, and the manifest of the set."""
    splits: dict[str, dict[str, Any]] = {}
    skipped: list[str] = []
    for job in jobs:
        state = progress[job.key]
        skipped += [s for s in job.screen.skipped if s not in state["skipped"]] + state["skipped"]
        if state["count"] == 0:
            raise UserError(f"none of the {len(job.names)} {job.key} images could be used, e.g. {state['skipped'][0]}")
        names_file = next(n for n, (kind, _, _) in _files(job, 0, 0).items() if kind == "txt")
        for name, (kind, item, dtype) in _files(job, plan["image_size"], plan["channels"]).items():
            if kind != "npy":
                continue
            path = partial / name
            with path.open("r+b") as f:
                old = _npy_header((len(job.names), *item), dtype)
                f.write(_npy_header((state["count"], *item), dtype, length=len(old)))
                f.flush()
                os.fsync(f.fileno())
            part = name.removesuffix(".npy").split("_", 1)[1]
            entry = {"file": name, "count": state["count"]}
            if part != "labels":
                entry["names"] = names_file
            splits.setdefault(job.split, {})[part] = entry
    manifest = {k: v for k, v in plan.items() if k != "jobs"}
    return {**manifest, "version": VERSION, "splits": splits, "unsplit": unsplit, "skipped": skipped[:100],
            "skipped_count": len(skipped), "packed_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}  # fmt: skip
