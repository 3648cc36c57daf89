"""Training health: the seeds' advice on reading a GAN's losses, watched by the toolkit.

A `Detector` reads the lines of metrics.jsonl one by one and reports events, each once when its condition
starts to hold (again after it has cleared). Kinds (fixed names, for scripts):

- `d_wins`: D's loss stays below `health.d_wins_below` of its chance level (log 2 = 0.69 for bce, 1/4 for
  lsgan; above the floor that label smoothing sets) for `health.window` steps while G's adversarial loss
  climbs (seed 000: a loss far below log 2 means that network dominates). Losses without a chance level
  shared by both networks (hinge, wgan-gp) have no d_wins or g_wins.
- `g_wins`: the reverse.
- `recon_stalled`: a paired model's reconstruction loss (gen_l1_loss in seed 000) fell by less than
  `health.recon_stall` of itself over the last window.
- `grad_vanishing`: G's gradient norm stays below `health.grad_vanishing_below` for the window.
- `grad_exploding`: a gradient norm above `health.grad_exploding_above`.
- `nonfinite`: a NaN or Inf in a loss or the weights. Training stops at once; the last good checkpoint stays.
- `mode_collapse`: the generated images' diversity (metrics/diversity.py) below `health.collapse_below`
  at `health.collapse_checks` sample steps in a row (seed 004: G settles on one class).
- `mode_dropping`: partial collapse, which the diversity's entropy hides: the generated images' share of the
  real data's cells differs by more than `health.dropping_above` (`mode_imbalance`, the total variation
  distance of the histograms) at `health.dropping_checks` sample steps in a row in the second half of the run
  (from half its steps, and not before the warm-up), while diversity stays above `health.collapse_below`
  (G over-weights some modes and drops others).
- `memorising`: more than `health.memorising_above` of the generated images are near-copies of training
  images (`near_copies` at sample steps, `eval_near_copies` at evaluations; metrics/memorisation.py).
- `data_starved`: the step waited for its data (`data_wait`, the share of each log window's time spent
  waiting for a batch) more than `health.starved_above` in every line of the window: the accelerator idles.

Apart from `nonfinite` and `grad_exploding`, nothing is judged before `health.warmup` steps, and a window
spans at least three metrics lines (3 x `train.log_every` steps). The same
detector runs during training (the `health` hook: events.jsonl, a line above the progress bar, and a stop
for the kinds in `health.stop_on`) and afterwards over any run's metrics (`ganforge health`).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from .config import Config
from .losses import build_adversarial_loss, reconstruction_weights

ADVICE = {
    "d_wins": "D is winning and G learns little from it: lower D's learning rate (train.d_optim.lr) or raise G's, "
    "or try loss.label_smoothing=0.1, loss.instance_noise=0.1, model.spectral_norm=true, loss.r1=1, or "
    "data.diffaugment=color,translation,cutout on a small data set",
    "g_wins": "G fools D almost always, so D has stopped teaching it: raise D's learning rate, train.d_steps=2, "
    "and look at the samples for mode collapse",
    "recon_stalled": "the reconstruction loss has stopped falling: lower the learning rates, check that inputs and "
    "targets are aligned, or stop here if the samples are good",
    "grad_vanishing": "G's gradients have vanished, D saturates: keep the non-saturating bce (or lsgan, hinge), "
    "lower D's learning rate, or add loss.instance_noise or loss.r1",
    "grad_exploding": "gradients exploded: lower the learning rates, clip gradients (train.g_optim.clip_value, "
    "train.d_optim.clip_value), or try model.spectral_norm=true or loss.r1",
    "nonfinite": "lower the learning rates or clip gradients (train.g_optim.clip_value) and train again; "
    "checkpoints/latest.pt holds the last good weights",
    "memorising": "G copies its training images: augment D's inputs (data.ada_target=0.8, or data.diffaugment), "
    "stop earlier (checkpoints/best.pt with --best-metric near_copies), or give it more images",
    "mode_dropping": "G over-weights some kinds of images and drops others: balance the learning rates (G's no "
    "higher than D's), or try model.minibatch_std=true, train.replay_size=256, or train.ema",
    "mode_collapse": "G makes few kinds of images: try model.minibatch_std=true, model.minibatch_discrimination=16, "
    "train.replay_size=256, a lower G learning rate, or data.diffaugment=color,translation,cutout",
    "data_starved": "the step waits for its data: pack the data set once (ganforge prepare FOLDER --out DATA, then "
    "--data DATA), raise data.num_workers, or keep the images on a local disk",
}
QUIET_KEYS = ("step", "epoch", "images_per_s", "data_wait")


@dataclass
class Event:
    step: int
    kind: str
    message: str
    advice: str
    values: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def line(self) -> str:
        return f"[{self.kind}] step {self.step}: {self.message}; {self.advice}"


def _values(rows: list[dict], key: str) -> list[float]:
    return [r[key] for r in rows if isinstance(r.get(key), (int, float))]


def _mean(values: list[float]) -> float:
    return sum(values) / len(values)


def _climbs(values: list[float]) -> bool:
    half = len(values) // 2
    return half > 0 and _mean(values[half:]) > _mean(values[:half])


class Detector:
    """Reads metrics lines in order; `feed` returns the events that start with each (see the module doc).

    `chance` and `floor`: D's loss at chance and at its least (from the adversarial loss); `recon`: the
    metric of the reconstruction loss to watch, if any."""

    def __init__(self, cfg: Config, chance: float | None, floor: float, recon: str | None):
        self.h, self.chance, self.floor, self.recon_key = cfg.health, chance, floor, recon
        self.run_length(None)
        self.window = max(cfg.health.window, 3 * cfg.train.log_every)
        self.rows: list[dict] = []
        self.diversity: list[tuple[int, float]] = []
        self.imbalance: list[tuple[int, float, float]] = []  # (step, mode_imbalance, mode_excess)
        self.copies: tuple[str, float] | None = None  # the last share of near-copies measured, and its key
        self.active: set[str] = set()

    def run_length(self, total_steps: int | None) -> None:
        """The run's steps (None: unknown). Partial collapse is judged in the run's second half: early on,
        healthy runs over-weight modes too."""
        self.dropping_from = max(self.h.warmup, (total_steps or 0) // 2)

    def feed(self, row: dict) -> list[Event]:
        """The events that start with this line of metrics."""
        step = row["step"]
        row = {k: v for k, v in row.items() if k != "images_per_s"}  # a measure of the machine, not the run
        self.rows = [r for r in self.rows if r["step"] > step - 2 * self.window] + [row]
        if isinstance(row.get("diversity"), (int, float)):
            self.diversity.append((step, row["diversity"]))
        for key in ("near_copies", "eval_near_copies"):  # at sample steps (pixels), at evaluations (features)
            if isinstance(row.get(key), (int, float)):
                self.copies = (key, row[key])
        if isinstance(row.get("mode_imbalance"), (int, float)):
            self.imbalance.append((step, row["mode_imbalance"], row.get("mode_excess") or 0.0))
        found = self._conditions(row)
        new = [event for kind, event in found.items() if kind not in self.active]
        self.active = set(found)
        return new

    def _conditions(self, row: dict) -> dict[str, Event]:
        h, step, found = self.h, row["step"], {}
        bad = [k for k, v in row.items() if k not in QUIET_KEYS and (v is None or not math.isfinite(v))]
        if bad:
            found["nonfinite"] = Event(step, "nonfinite", f"{', '.join(bad)} not finite", ADVICE["nonfinite"])
        norms = {k: v for k, v in row.items() if k.startswith("grad_norm_") and isinstance(v, (int, float))}
        high = {k: v for k, v in norms.items() if v > h.grad_exploding_above}
        if high:
            text = ", ".join(f"{k} = {v:.3g}" for k, v in high.items())
            found["grad_exploding"] = self._event(step, "grad_exploding", f"{text} > {h.grad_exploding_above:g}", high)
        if step < h.warmup or bad:
            return found
        window = [r for r in self.rows if r["step"] > step - self.window]
        spans = len(window) >= 3 and window[0]["step"] - (step - self.window) <= self.window / len(window) + 1
        if spans and self.chance is not None:
            found.update(self._balance(step, window))
        vanishing = _values(window, "grad_norm_G")
        if spans and len(vanishing) == len(window) and max(vanishing) < h.grad_vanishing_below:
            found["grad_vanishing"] = self._event(
                step, "grad_vanishing", f"G's gradient norm below {h.grad_vanishing_below:g} for {self.window} steps",
                {"grad_norm_G": vanishing[-1]},
            )  # fmt: skip
        if self.recon_key:
            found.update(self._recon(step, window))
        waits = _values(window, "data_wait")
        if spans and len(waits) == len(window) and min(waits) > h.starved_above:
            found["data_starved"] = self._event(
                step, "data_starved", f"the step waited for data {_mean(waits):.0%} of the time over the last "
                f"{self.window} steps (above health.starved_above={h.starved_above:g})", {"data_wait": _mean(waits)},
            )  # fmt: skip
        recent = [v for s, v in self.diversity if s >= h.warmup][-h.collapse_checks :]
        if len(recent) == h.collapse_checks and max(recent) < h.collapse_below:
            found["mode_collapse"] = self._event(
                step, "mode_collapse",
                f"diversity {', '.join(f'{v:.2f}' for v in recent)} at the last {len(recent)} sample steps, "
                f"below {h.collapse_below:g} (1 = as varied as the real images)",
                {"diversity": recent[-1]},
            )  # fmt: skip
        elif dropping := self._dropping(step):
            found["mode_dropping"] = dropping
        if self.copies is not None and self.copies[1] > h.memorising_above:  # the last measure holds till the next
            key, copies = self.copies
            found["memorising"] = self._event(
                step, "memorising", f"{copies:.0%} of the generated images are near-copies of training images "
                f"(above health.memorising_above={h.memorising_above:g})", {key: copies},
            )  # fmt: skip
        return found

    def _dropping(self, step: int) -> Event | None:
        h = self.h
        recent = [x for x in self.imbalance if x[0] >= self.dropping_from][-h.dropping_checks :]
        if len(recent) < h.dropping_checks or min(x[1] for x in recent) <= h.dropping_above:
            return None
        shown = ", ".join(f"{x[1]:.2f}" for x in recent)
        return self._event(
            step, "mode_dropping",
            f"mode_imbalance {shown} at the last {len(recent)} sample steps, above {h.dropping_above:g}: that share "
            f"of the images sits in the wrong modes, and the most over-weighted mode has {recent[-1][2]:.1f}x its "
            "real share",
            {"mode_imbalance": recent[-1][1], "mode_excess": recent[-1][2]},
        )  # fmt: skip

    def _balance(self, step: int, window: list[dict]) -> dict[str, Event]:
        d, g = _values(window, "d_loss"), _values(window, "g_gan")
        if len(d) != len(window) or len(g) != len(window):
            return {}
        seen = {"d_loss": _mean(d), "g_gan": _mean(g)}
        h, chance = self.h, self.chance
        d_low = self.floor + h.d_wins_below * (chance - self.floor)
        if max(d) < d_low and _climbs(g) and g[-1] > chance:
            text = f"D's loss {seen['d_loss']:.3f} stayed below {d_low:.3f} for {self.window} steps while G's rose"
            return {"d_wins": self._event(step, "d_wins", f"{text} to {g[-1]:.3f} (chance {chance:.2f})", seen)}
        g_low = h.g_wins_below * chance
        if max(g) < g_low and _climbs(d) and d[-1] > chance:
            text = f"G's loss {seen['g_gan']:.3f} stayed below {g_low:.3f} for {self.window} steps while D's rose"
            return {"g_wins": self._event(step, "g_wins", f"{text} to {d[-1]:.3f} (chance {chance:.2f})", seen)}
        return {}

    def _recon(self, step: int, window: list[dict]) -> dict[str, Event]:
        key, h = self.recon_key, self.h
        before = _values([r for r in self.rows if r["step"] <= step - self.window], key)
        now = _values(window, key)
        if len(before) < 2 or len(now) < 2 or self.rows[0]["step"] > step - 2 * self.window + self.window / 2:
            return {}
        fall = (_mean(before) - _mean(now)) / max(abs(_mean(before)), 1e-12)
        if fall >= h.recon_stall:
            return {}
        text = f"{key} {_mean(before):.4f} -> {_mean(now):.4f} over the last {self.window} steps ({fall:+.1%})"
        return {"recon_stalled": self._event(step, "recon_stalled", text, {key: _mean(now)})}

    @staticmethod
    def _event(step: int, kind: str, message: str, values: dict[str, float]) -> Event:
        return Event(step, kind, message, ADVICE[kind], {k: round(v, 6) for k, v in values.items()})

    def state_dict(self) -> dict:
        return {
            "rows": self.rows,
            "diversity": [list(x) for x in self.diversity],
            "imbalance": [list(x) for x in self.imbalance],
            "copies": list(self.copies) if self.copies else None,
            "active": sorted(self.active),
        }

    def load_state_dict(self, state: dict) -> None:
        self.rows = list(state["rows"])
        self.diversity = [(int(s), float(v)) for s, v in state["diversity"]]
        old = state.get("imbalance", [])  # none in checkpoints older than mode_dropping
        self.imbalance = [(int(s), float(v), float(e)) for s, v, e in old]
        copies = state.get("copies")
        self.copies = (str(copies[0]), float(copies[1])) if copies else None
        self.active = set(state["active"])


def recon_key(cfg: Config) -> str | None:
    """The metric of a paired model's main reconstruction loss (g_l1 for pix2pix), if it has one."""
    weights = reconstruction_weights(cfg)
    return f"g_{next(iter(weights))}" if cfg.task == "paired" and weights else None


def detector_for(cfg: Config) -> Detector:
    loss = build_adversarial_loss(cfg)
    return Detector(cfg, loss.chance, loss.d_floor, recon_key(cfg))


def events_from_metrics(cfg: Config, rows: list[dict]) -> list[Event]:
    """The events a run's metrics show, found after the fact (runs without events.jsonl)."""
    detector = detector_for(cfg)
    detector.run_length(max((r["step"] for r in rows if isinstance(r.get("step"), int)), default=None))  # so far
    return [event for row in rows for event in detector.feed(row)]
