"""The `train` command's flags, in one table: the CLI builds its parser from it, the API takes the same
names as keyword arguments (`ganforge.train(..., batch_size=64)`), and errors about a value name the flag
it came from. A flag with a `key` sets that config key; the others steer the command itself."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Flag:
    name: str  # the API's keyword and argparse's dest; the flag is --name with dashes
    help: str
    key: str = ""  # the config key it sets ("" for the command's own flags)
    type: Any = str
    metavar: str | None = None
    repeat: bool = False  # may be given several times (a list)
    switch: bool = False  # takes no value
    length: bool = False  # --steps and --epochs: one or the other
    on_resume: bool = False  # may be given with --resume

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")


TRAIN_FLAGS = (  # in the order `ganforge train --help` lists them
    Flag("data", "built-in data set (digits, mnist, fashion-mnist) or a folder of images", "data.name"),
    Flag("image_size", "image resolution", "data.image_size", int),
    Flag("degrade", "restoration: degrade clean images on the fly: noise=STD (of the [0, 1] range), blur=SIGMA, "
         "jpeg=QUALITY, downscale=FACTOR; repeatable or comma-separated", "data.degrade", metavar="KIND=S",
         repeat=True),
    Flag("steps", "total optimisation steps", "train.steps", int, length=True, on_resume=True),
    Flag("epochs", "passes over the data instead of --steps", "train.epochs", int, length=True, on_resume=True),
    Flag("minutes", "a time budget: stop cleanly (with a checkpoint) at the first log step past this many minutes of "
         "training, counted over resumes; a resume may raise it", "train.max_minutes", float, metavar="M",
         on_resume=True),
    Flag("batch_size", "images per step", "train.batch_size", int),
    Flag("out", "run directory (default: runs/PRESET-TIMESTAMP)"),
    Flag("device", "auto, cpu, cuda or cuda:N", "train.device"),
    Flag("seed", "random seed", "train.seed", int),
    Flag("set", "override any config key, e.g. --set train.g_optim.lr=1e-4 (repeatable)", metavar="KEY=VALUE",
         repeat=True),
    Flag("model_configs", "a seed-002 model_configs.json: U-Net arguments and loss weights (the docs' "
         "Configuration page)", metavar="FILE"),
    Flag("stop_on", "stop training at these health events, comma-separated, e.g. mode_collapse,d_wins; "
         "nonfinite always stops", "health.stop_on", metavar="EVENTS", on_resume=True),
    Flag("eval_every", "score the generator every N steps (FID, KID, precision/recall... or PSNR/SSIM for pairs), "
         "logged beside the losses, checkpoints/best.pt kept", "eval.every", int, metavar="N"),
    Flag("init_from", "fine-tune: start from the latest weights of this trained run (new optimisers, any data)",
         "train.init_from", metavar="RUN_DIR"),
    Flag("best_metric", "the metric best.pt is chosen by, e.g. fid, coverage, psnr", "eval.best_metric"),
    Flag("eval_features", "own or inception: the features of the evaluation", "eval.features"),
    Flag("precision", "auto (bf16 in --cuda-graphs or on a CPU with native bf16, else fp32), fp32, bf16, fp16",
         "train.precision"),
    Flag("compile", "torch.compile the networks", "train.compile", bool, switch=True),
    Flag("cuda_graphs", "replay each step as one CUDA graph", "train.cuda_graphs", bool, switch=True),
    Flag("logger", "also show the run in tensorboard (RUN_DIR/tensorboard/), wandb or mlflow; comma-separated",
         "train.logger", metavar="files|tensorboard|wandb|mlflow"),
    Flag("resume", "continue a run from its newest whole checkpoint", metavar="RUN_DIR", on_resume=True),
    Flag("checkpoint", "with --resume: roll back to this checkpoint of the run (step_N, best); what came after it "
         "is moved to RUN_DIR/rolled_back/", metavar="NAME", on_resume=True),
    Flag("quiet", "no progress bar (for logs)", type=bool, switch=True, on_resume=True),
)  # fmt: skip

FLAG_OF = {f.key: f.flag for f in TRAIN_FLAGS if f.key}  # config key -> the flag that sets it, for errors
KEY_OF = {f.name: f.key for f in TRAIN_FLAGS if f.key}  # the API's keyword -> the config key it sets
