"""Writes tests/reference/inception_reference.pt: pytorch-fid's FID InceptionV3 features of a few fixed
images, computed with the deterministic weights of portable_weights.py, for tests/metrics/test_inception.py.

Run it only in a separate reference venv (it needs torchvision and pytorch-fid, and must not import
ganforge), from the repository root:

    python3 -m venv /tmp/refvenv
    /tmp/refvenv/bin/pip install torch==2.14.1 torchvision==0.29.1 pytorch-fid scipy
    /tmp/refvenv/bin/python tests/reference/make_inception_reference.py

Nothing is downloaded: pytorch-fid's ``load_state_dict_from_url`` is replaced by one that returns the
portable weights, which pytorch-fid loads strictly. The network runs in float64, in eval mode, on
uint8 images / 255 in [0, 1], with pytorch-fid's own resize (bilinear, align_corners=False) and 2x - 1.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import pytorch_fid  # noqa: E402
import pytorch_fid.inception as fid_inception  # noqa: E402
import torchvision  # noqa: E402
from portable_weights import RECIPE, portable_weights  # noqa: E402

OUT = HERE / "inception_reference.pt"
SIZE = (40, 52)  # (H, W), not square, so that the resize to 299x299 is exercised in both directions


def make_images() -> torch.Tensor:
    """Six (3, 40, 52) uint8 images from smooth formulas: gradients, waves, a disc, a checker, grey."""
    h, w = SIZE
    y = torch.linspace(0, 1, h, dtype=torch.float64)[:, None].expand(h, w)
    x = torch.linspace(0, 1, w, dtype=torch.float64)[None, :].expand(h, w)
    r = ((x - 0.4) ** 2 + (y - 0.55) ** 2).sqrt()
    images = [
        [x, y, 1 - x * y],
        [0.5 + 0.5 * torch.sin(2 * math.pi * 3 * x), 0.5 + 0.5 * torch.cos(2 * math.pi * 2 * y), 0.3 + 0.4 * x],
        [(r < 0.3).double() * 0.8 + 0.1, torch.exp(-8 * r**2), 1 - r],
        [0.5 + 0.5 * torch.sin(2 * math.pi * (4 * x + 3 * y)), 0.5 + 0.5 * torch.sin(2 * math.pi * 5 * x * y), y],
        [((torch.floor(x * 6) + torch.floor(y * 4)) % 2) * 0.7 + 0.15, x**2, 0.5 + 0.5 * torch.sin(9 * r)],
        [torch.full((h, w), 0.5, dtype=torch.float64)] * 3,
    ]
    stacked = torch.stack([torch.stack(channels) for channels in images])
    return (stacked.clamp(0, 1) * 255).round().to(torch.uint8)


def main() -> None:
    # The keys and shapes of pytorch-fid's FID Inception, read from the model it builds.
    fid_inception.load_state_dict_from_url = lambda *args, **kwargs: {}
    template = torchvision.models.inception_v3(num_classes=1008, aux_logits=False, weights=None, init_weights=False)
    for name, block in {
        "Mixed_5b": fid_inception.FIDInceptionA(192, pool_features=32),
        "Mixed_5c": fid_inception.FIDInceptionA(256, pool_features=64),
        "Mixed_5d": fid_inception.FIDInceptionA(288, pool_features=64),
        "Mixed_6b": fid_inception.FIDInceptionC(768, channels_7x7=128),
        "Mixed_6c": fid_inception.FIDInceptionC(768, channels_7x7=160),
        "Mixed_6d": fid_inception.FIDInceptionC(768, channels_7x7=160),
        "Mixed_6e": fid_inception.FIDInceptionC(768, channels_7x7=192),
        "Mixed_7b": fid_inception.FIDInceptionE_1(1280),
        "Mixed_7c": fid_inception.FIDInceptionE_2(2048),
    }.items():
        setattr(template, name, block)
    shapes = {k: tuple(v.shape) for k, v in template.state_dict().items()}
    weights = portable_weights(shapes)

    # Now build pytorch-fid's network exactly as it does, with the portable weights loaded strictly.
    fid_inception.load_state_dict_from_url = lambda *args, **kwargs: dict(weights)
    net = fid_inception.InceptionV3([3], resize_input=True, normalize_input=True, use_fid_inception=True)
    net = net.double().eval()

    images = make_images()
    with torch.no_grad():
        features = net(images.double() / 255)[0].flatten(1)
    assert features.shape == (len(images), 2048), features.shape

    params = sum(v.numel() for k, v in weights.items() if not k.endswith(("running_mean", "running_var", "tracked")))
    reference = {
        "recipe": RECIPE,
        "made_with": {
            "pytorch_fid": str(getattr(pytorch_fid, "__version__", "unknown")),
            "torch": str(torch.__version__),
            "torchvision": str(torchvision.__version__),
            "dtype": "float64",
        },
        "images": images,  # uint8 (N, 3, H, W); pytorch-fid's input is images / 255
        "features": features.clone(),  # float64 (N, 2048)
        "keys": list(shapes),
        "shapes": {k: list(s) for k, s in shapes.items()},
        "num_parameters": params,
        # per-tensor float64 sums of |w|, to tell a changed weight recipe apart from a wrong network
        "weight_abs_sums": torch.tensor([weights[k].double().abs().sum().item() for k in shapes]),
    }
    torch.save(reference, OUT)
    f = features
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes): {len(shapes)} keys, {params} parameters")
    print(f"features: mean {f.mean():.4g}, std {f.std():.4g}, max {f.max():.4g}, across images {f.std(0).mean():.4g}")


if __name__ == "__main__":
    main()
