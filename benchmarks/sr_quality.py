"""Super-resolution on real photographs it never saw: the luma PSNR gain of an SRResNet over bicubic
upscaling, as JSON (stdout):

    python benchmarks/sr_quality.py [--scale 2] [--steps 1500 | --minutes 4] [--width 32] [--blocks 6]
                                    [--set KEY=VALUE ...] [--out runs/sr-quality]

The photographs are scikit-image's (shipped with it, no download): it trains on 17 of them (landscapes,
objects, textures, text, microscopy, the sky; the grey ones as RGB) cut into patches at their own
resolution, and scores three photographs it never saw (chelsea the cat, the motorcycle, the astronaut),
whole: each is downscaled by the scale (antialiased bicubic), upscaled back by the model (tiled) and by
bicubic and nearest-neighbour interpolation, and compared with the original on the luma channel (Y of
BT.601, a border of `scale` pixels left out), as SR papers report. `gain_db` is the model's PSNR over
bicubic's, per photograph and their mean. One run, alone on the machine; the device goes to the JSON.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

TRAIN = (
    "coffee", "rocket", "hubble_deep_field", "immunohistochemistry", "retina", "colorwheel", "camera", "brick",
    "grass", "gravel", "moon", "coins", "clock", "page", "text", "cell", "microaneurysms",
)  # fmt: skip
HELD_OUT = ("chelsea", "stereo_motorcycle", "astronaut")
SR_OVERRIDES = ["train.g_optim.lr=0.0005", "train.batch_size=16", "train.log_every=50", "train.sample_every=100000"]


def write_photographs(root: Path, names: tuple[str, ...]) -> Path:
    """scikit-image's photographs `names` as RGB PNGs in `root`."""
    import numpy as np
    import skimage.data
    from PIL import Image

    root.mkdir(parents=True, exist_ok=True)
    for name in names:
        image = getattr(skimage.data, name)()
        image = image[0] if isinstance(image, tuple) else image  # the stereo pair: its left view
        image = np.asarray(image)
        if image.ndim == 2:
            image = np.repeat(image[:, :, None], 3, axis=2)
        Image.fromarray(image[:, :, :3].astype(np.uint8)).save(root / f"{name}.png")
    return root


def gains(run_dir: Path, photographs: Path, device: str = "auto") -> dict[str, dict[str, float]]:
    """Luma PSNR (dB) of the run's model, bicubic and nearest on each photograph in `photographs`."""
    import ganforge
    from ganforge.data.images import list_images, load_image, to_tensor
    from ganforge.data.lowres import bicubic_down, bicubic_up, nearest_up
    from ganforge.metrics.upscale import scores

    g = ganforge.load(run_dir, device=device)
    scale = g.config.model.scale
    rows = {}
    for path in list_images(photographs):
        high = to_tensor(load_image(path, 3)).unsqueeze(0)
        high = high[..., : high.shape[-2] // scale * scale, : high.shape[-1] // scale * scale]
        low = bicubic_down(high, scale)
        made = {"model": g.upscale(low), "bicubic": bicubic_up(low, scale),
                "nearest": nearest_up(low, scale)}  # fmt: skip
        rows[path.stem] = {name: round(scores(out, high, border=scale)["psnr_y"], 3) for name, out in made.items()}
        rows[path.stem]["gain_db"] = round(rows[path.stem]["model"] - rows[path.stem]["bicubic"], 3)
    return rows


def train_upscaler(data: Path, out: Path, scale: int, budget: dict, width: int, blocks: int, patch: int,
                   extra: list[str], device: str = "auto"):  # fmt: skip
    """An SRResNet (L1, no discriminator) trained on the photographs in `data`."""
    import ganforge

    over = [f"model.width={width}", f"model.blocks={blocks}", f"data.image_size={patch}", *SR_OVERRIDES, *extra]
    return ganforge.train(f"srresnet-x{scale}", data=str(data), out=out, quiet=True, device=device, overrides=over,
                          **budget)  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--scale", type=int, default=2, choices=(2, 3, 4))
    budget = p.add_mutually_exclusive_group()
    budget.add_argument("--steps", type=int, default=1500)
    budget.add_argument("--minutes", type=float)
    p.add_argument("--width", type=int, default=32)
    p.add_argument("--blocks", type=int, default=6)
    p.add_argument("--patch", type=int, default=64, help="HR patch side (a multiple of 32 and of the scale)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="a config override")
    p.add_argument("--out", type=Path, default=Path("runs/sr-quality"))
    p.add_argument("--device", default="auto")
    args = p.parse_args(argv)
    import torch

    train_dir = write_photographs(args.out / "photographs", TRAIN)
    held_dir = write_photographs(args.out / "held-out", HELD_OUT)
    started = time.perf_counter()
    budget = {"minutes": args.minutes, "steps": 10**9} if args.minutes else {"steps": args.steps}
    run = train_upscaler(train_dir, args.out / f"srresnet-x{args.scale}", args.scale, budget, args.width,
                         args.blocks, args.patch, args.set, args.device)  # fmt: skip
    seconds = time.perf_counter() - started
    rows = gains(run.dir, held_dir, args.device)
    mean = sum(r["gain_db"] for r in rows.values()) / len(rows)
    result = {
        "benchmark": "sr_quality", "scale": args.scale, "width": args.width, "blocks": args.blocks,
        "patch": args.patch, "steps": run.step,
        "train_seconds": round(seconds, 1), "gain_db_mean": round(mean, 3), "photographs": rows,
        "device": torch.cuda.get_device_name() if torch.cuda.is_available() else platform.processor() or "cpu",
        "torch": torch.__version__, "threads": torch.get_num_threads(), "python": sys.version.split()[0],
    }  # fmt: skip
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
