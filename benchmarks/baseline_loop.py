"""ganforge's training step against a straightforward GAN loop, in one process, as JSON.

    python benchmarks/baseline_loop.py [--presets dcgan-mnist dcgan pix2pix] [--steps 20] [--device auto]

The baseline trains the same networks (built from the same preset) with the same optimisers the way the
TensorFlow tutorials and the common PyTorch examples do: float32, eager, one G forward per step reused
by both phases (detached for D), binary cross-entropy on logits (+ loss.l1 x L1 for the image-to-image
presets; unet-restore degrades its clean batches on the device, as ganforge does), gradient-value
clipping where the preset asks for it, and `.item()` of each loss every step. Data: random batches indexed
from an in-memory tensor on the device. Both are timed alternately in the same process after a warm-up, so
that the ratio is measured in one run. `--set KEY=VALUE` changes ganforge's config only.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

BASELINE_PRESETS = ("dcgan-mnist", "dcgan", "dcgan-128", "pix2pix", "unet-restore")


def _optimizer(net, o) -> torch.optim.Optimizer:
    """The optimiser as a reference script makes it: torch's defaults beyond the preset's settings."""
    if o.name == "adam":
        return torch.optim.Adam(net.parameters(), lr=o.lr, betas=(o.beta1, o.beta2), eps=o.eps)
    return torch.optim.RMSprop(net.parameters(), lr=o.lr, alpha=o.rho, eps=o.eps)


def _clip(net, o) -> None:
    if o.clip_value > 0:
        torch.nn.utils.clip_grad_value_(net.parameters(), o.clip_value)


def _straightforward(cfg, device):
    """A step function of the straightforward loop for `cfg` (bce, unconditional or pix2pix)."""
    from ganforge.data import build_dataset
    from ganforge.data.degrade import degrade, parse_degradations
    from ganforge.models import build_models

    g, d = (m.to(device).train() for m in build_models(cfg))
    opt_g, opt_d = _optimizer(g, cfg.train.g_optim), _optimizer(d, cfg.train.d_optim)
    data = build_dataset(cfg, "train")
    n, b = min(len(data), 512), cfg.train.batch_size
    paired = cfg.task == "paired"
    degradations = parse_degradations(cfg.data.degrade) if cfg.data.degrade else []
    if paired and not degradations:
        inputs = torch.stack([data[i][0] for i in range(n)]).to(device)
        targets = torch.stack([data[i][1] for i in range(n)]).to(device)
    else:
        targets = torch.stack([data[i] for i in range(n)]).to(device)
    latent = getattr(cfg.model, "latent_dim", 0)

    def bce(logits, value):
        return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, value))

    def step() -> tuple[float, float]:
        idx = torch.randint(n, (b,), device=device)
        real = targets[idx]
        cond = (degrade(real, degradations) if degradations else inputs[idx]) if paired else None
        fake = g(cond) if paired else g(torch.randn(b, latent, device=device))
        pair = (lambda x: torch.cat([cond, x], 1)) if paired and getattr(cfg.model, "d_conditional", False) else None
        pair = pair or (lambda x: x)
        d_loss = 0.5 * (bce(d(pair(real)), 1.0) + bce(d(pair(fake.detach())), 0.0))
        opt_d.zero_grad()
        d_loss.backward()
        _clip(d, cfg.train.d_optim)
        opt_d.step()
        g_loss = bce(d(pair(fake)), 1.0) + (cfg.loss.l1 * (fake - real).abs().mean() if paired else 0)
        opt_g.zero_grad()
        g_loss.backward()
        _clip(g, cfg.train.g_optim)
        opt_g.step()
        return d_loss.item(), g_loss.item()

    return step


def measure(preset: str, steps: int, warmup: int, device: str, rounds: int, overrides: list[str]) -> dict:
    from ganforge.api import resolve_config
    from ganforge.train.loop import Trainer

    cfg = resolve_config(preset, device=device, overrides=overrides)
    cfg = resolve_config(cfg, overrides={"data.name": "shapes" if cfg.task == "paired" else "digits"})
    with tempfile.TemporaryDirectory() as tmp:
        trainer = Trainer(cfg, Path(tmp) / "run", quiet=True)
        dev = trainer.device
        sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
        baseline = _straightforward(cfg, dev)

        def ours() -> None:  # what the loop does each step, its metrics lines and reads back included
            trainer.monitor.update(trainer.train_step())
            trainer.progress.step += 1
            if trainer.progress.step % cfg.train.log_every == 0:
                trainer.monitor.flush(trainer.progress.step, trainer.epoch)

        for _ in range(warmup):
            ours()
            baseline()
        times: dict[str, float] = {"ganforge": 0.0, "baseline": 0.0}
        for _ in range(rounds):
            for name, fn in (("ganforge", ours), ("baseline", baseline)):
                sync()
                t0 = time.perf_counter()
                for _ in range(steps):
                    fn()
                sync()
                times[name] += time.perf_counter() - t0
    images = rounds * steps * cfg.train.batch_size
    result = {k: round(images / v, 2) for k, v in times.items()}
    return {
        "preset": preset,
        "batch_size": cfg.train.batch_size,
        "images_per_s": result,
        "speedup_over_baseline": round(result["ganforge"] / result["baseline"], 3),
        "runtime": trainer.intro.split("; ")[-1],
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--presets", nargs="*", default=list(BASELINE_PRESETS))
    p.add_argument("--steps", type=int, default=10, help="steps per timed round")
    p.add_argument("--rounds", type=int, default=3, help="alternating rounds of each loop")
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument(
        "--set", action="append", default=[], help="KEY=VALUE for ganforge's config (train.cuda_graphs=true)"
    )
    p.add_argument("--device", default="auto")
    a = p.parse_args()
    results = [measure(name, a.steps, a.warmup, a.device, a.rounds, a.set) for name in a.presets]
    device = torch.cuda.get_device_name() if torch.cuda.is_available() else f"cpu ({torch.get_num_threads()} threads)"
    from ganforge.devices import cpu_bfloat16

    report = {"benchmark": "baseline_loop", "device": device, "cpu_bfloat16": cpu_bfloat16(),
              "torch": torch.__version__, "results": results}  # fmt: skip
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
