"""The cost of evaluation on the present device, as JSON: training the own feature extractor, feature
extraction (images/s) with the own extractor and the FID Inception, and the metrics on features.

    python benchmarks/eval_speed.py [--device auto] [--images 5000] [--inception-images 64]

The Inception runs with deterministic stand-in weights (its cost does not depend on their values), so the
benchmark needs no download.
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import torch


def timed(fn, sync) -> tuple[float, object]:
    sync()
    t0 = time.perf_counter()
    out = fn()
    sync()
    return time.perf_counter() - t0, out


def main() -> None:
    from ganforge.data.builtin import digits_images
    from ganforge.devices import resolve_device
    from ganforge.metrics.distribution import density_coverage, fid, kid, precision_recall
    from ganforge.metrics.features import extract, train_own
    from ganforge.metrics.inception import FIDInception

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="auto")
    p.add_argument("--images", type=int, default=5000, help="feature vectors per set for the metrics")
    p.add_argument("--inception-images", type=int, default=64)
    a = p.parse_args()
    device = resolve_device(a.device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    images, _ = digits_images(28)
    result: dict = {"device": str(device), "torch": torch.__version__, "threads": torch.get_num_threads()}
    result["machine"] = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.machine()

    seconds, own = timed(lambda: train_own(images), lambda: None)
    result["own_extractor_training_s"] = round(seconds, 2)
    own = own.to(device)
    many = images.repeat(3, 1, 1, 1)[: a.images]
    extract(own, many[:100])
    seconds, _ = timed(lambda: extract(own, many), sync)
    result["own_features_images_per_s"] = round(len(many) / seconds, 1)

    net = FIDInception().eval().requires_grad_(False)
    with torch.no_grad():
        for i, t in enumerate(net.state_dict().values()):
            if t.is_floating_point():
                t.copy_(torch.linspace(-0.05, 0.05, t.numel()).reshape(t.shape).roll(i))
    net = net.to(device)
    rgb = images[: a.inception_images].expand(-1, 3, -1, -1)
    extract(net, rgb[:8], batch_size=8)
    seconds, _ = timed(lambda: extract(net, rgb, batch_size=32), sync)
    result["inception_features_images_per_s"] = round(len(rgb) / seconds, 2)

    gen = torch.Generator().manual_seed(0)
    for dim in (64, 2048):
        real = torch.randn(a.images, dim, generator=gen, dtype=torch.float64)
        fake = torch.randn(a.images, dim, generator=gen, dtype=torch.float64) + 0.1
        row = {}
        for name, fn in {
            "fid": lambda r=real, f=fake: fid(r, f),
            "kid": lambda r=real, f=fake: kid(r, f),
            "precision_recall": lambda r=real, f=fake: precision_recall(r, f),
            "density_coverage": lambda r=real, f=fake: density_coverage(r, f),
        }.items():
            row[f"{name}_s"] = round(timed(fn, lambda: None)[0], 3)
        result[f"metrics_{a.images}x{dim}"] = row
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
