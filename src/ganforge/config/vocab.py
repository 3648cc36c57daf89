"""The fixed vocabularies that config keys choose from. They live with the config, the bottom of the house;
the modules that act on them (data/paired.py, data/screening.py, metrics/generated.py, health.py)
import them from here."""

from __future__ import annotations

DIRECTIONS = ("AtoB", "BtoA")  # paired data: which half is the input (data.direction)
BAD_IMAGE_POLICIES = ("skip", "strict")  # a folder's unreadable files: left out and counted, or the run stops

# The metrics of an evaluation (eval.best_metric): of generated images, of held-out pairs, of upscaled photographs.
UNCONDITIONAL_METRICS = ("fid", "kid", "precision", "recall", "density", "coverage", "near_copies")
PAIRED_METRICS = ("l1", "psnr", "ssim", "fid")
UPSCALE_METRICS = ("psnr_y", "ssim_y", "psnr", "ssim", "fid")  # on the luma channel (Y) as SR papers report, and RGB
METRICS = tuple(dict.fromkeys(UNCONDITIONAL_METRICS + PAIRED_METRICS + UPSCALE_METRICS))
LOWER_IS_BETTER = frozenset({"fid", "kid", "l1", "near_copies"})

# The events of training health (health.stop_on), in the order the detector judges them.
EVENT_KINDS = (
    "d_wins",
    "g_wins",
    "recon_stalled",
    "grad_vanishing",
    "grad_exploding",
    "nonfinite",
    "mode_collapse",
    "mode_dropping",
    "memorising",
    "data_starved",
)

# Where a run is also shown (train.logger, comma-separated): each a hook (train/trackers.py, docs/runs.md)
LOGGERS = ("files", "tensorboard", "wandb", "mlflow")
