"""Weights & Biases as the run's viewer (`train.logger=wandb`, `--logger wandb`), through wandb's own client:
every metrics line as scalars at its step, the sample grids as `wandb.Image`s (key `samples`), health events
as text (key `events`), the resolved config as the run's config.

The project is `WANDB_PROJECT` (else "ganforge"), the run's name the run folder's, and wandb's files go to
RUN_DIR/wandb/. wandb's own settings apply: `WANDB_MODE=offline` keeps the run on this machine (upload it
later with `wandb sync RUN_DIR/wandb`), `WANDB_ENTITY`, `WANDB_API_KEY` and so on. A resumed run goes on in
the same wandb run (its id is kept in the checkpoints). wandb takes only rising steps: a run resumed online
skips the steps wandb already has (a resume recomputes them exactly); offline, each attempt is an offline run
of the same id, which `wandb sync` uploads into one run.
"""

from __future__ import annotations

import os
import secrets
import string

import numpy as np

from ..errors import UserError
from .hooks import HOOKS, TrainerView
from .trackers import Tracker, first_line, wants


class WandbLogger(Tracker):
    name = "wandb"
    in_order = True

    def __init__(self, trainer: TrainerView):
        try:
            import wandb
        except ImportError:
            raise UserError("train.logger=wandb needs the wandb package: pip install 'ganforge[wandb]'") from None
        super().__init__(trainer)
        self.wandb = wandb
        self.run = None
        # chosen here, so that the checkpoint of step 0 holds it too (a resume from it goes on in the same run)
        alphabet = string.ascii_lowercase + string.digits
        self.run_id = os.environ.get("WANDB_RUN_ID") or "".join(secrets.choice(alphabet) for _ in range(8))
        self.first_step = 0  # steps below it are already in a resumed wandb run
        self._texts: tuple[int, list[str]] = (-1, [])  # the text of the last step that had some

    def open(self) -> str:
        t, wandb = self.trainer, self.wandb
        try:
            self.run = wandb.init(
                project=os.environ.get("WANDB_PROJECT") or "ganforge",
                name=t.run_dir.name,
                dir=str(t.layout.wandb.parent),  # wandb writes in DIR/wandb
                config=t.cfg.to_dict(),
                allow_val_change=True,  # a resume may change the run's length
                id=self.run_id,
                resume="allow",
                reinit="create_new",  # its own run, whatever else this process tracks
                settings=wandb.Settings(silent=True) if t.monitor.quiet else None,
            )
        except Exception as e:
            raise UserError(
                f"train.logger=wandb: wandb could not start the run ({first_line(e)}); log in with `wandb login`, "
                "or set WANDB_MODE=offline"
            ) from None
        self.run_id, self.first_step = self.run.id, int(self.run.starting_step or 0)
        if self.run.offline:
            where = f"offline in {t.layout.wandb} (upload with: wandb sync {t.layout.wandb})"
        else:
            where = self.run.url or "sent nowhere (WANDB_MODE=disabled)"
        return f"wandb: run {self.run.id} of project {self.run.project}, {where}"

    def scalars(self, step: int, values: dict[str, float]) -> None:
        self._log(step, values)

    def image(self, step: int, grid: np.ndarray) -> None:
        self._log(step, {"samples": self.wandb.Image(grid)})

    def text(self, step: int, lines: list[tuple[int, str]]) -> None:
        """Under `events`, each line naming its own step; a step's value is replaced by a later one, so the
        lines of one step go together."""
        at, texts = self._texts
        self._texts = (step, (texts if at == step else []) + [line for _, line in lines])
        self._log(step, {"events": "\n".join(self._texts[1])})

    def finish(self, complete: bool) -> None:
        self.run.finish(exit_code=0 if complete else 1)  # not complete: wandb shows it failed, until resumed

    def _log(self, step: int, values: dict) -> None:
        if step >= self.first_step:
            self.run.log(values, step=step)


HOOKS.register("wandb", lambda t: WandbLogger(t) if wants(t.cfg, "wandb") and t.world.is_main else None)
