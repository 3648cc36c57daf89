"""MLflow as the run's viewer (`train.logger=mlflow`, `--logger mlflow`), through MLflow's own client
(`MlflowClient`, with the run's id named in every call: no global active run, so runs in one process do not
mix): every metrics line as metrics at its step, the sample grids as images at their step (key `samples`),
the health events as the text artifact events.txt, the resolved config as params (flattened: `train.steps`).

The tracking store is MLflow's own setting, `MLFLOW_TRACKING_URI` (a server, http://HOST:PORT, or a local
store); unset, MLflow's default (sqlite:///mlflow.db in the working directory, in MLflow 3). The experiment
is `MLFLOW_EXPERIMENT_NAME` (else "ganforge"), the run's name the run folder's. A resumed run goes on in the
same MLflow run (its id is kept in the checkpoints); MLflow keeps every value logged, so the steps after the
checkpoint, sent again, hold two values each (the later one the resumed run's).
"""

from __future__ import annotations

import contextlib
import inspect
import io
import json
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import UserError
from .hooks import HOOKS, TrainerView
from .trackers import Tracker, first_line, wants

BATCH = 100  # params or tags in one log_batch call (MLflow's limit); metrics: 1000
EVENTS = "events.txt"


class MlflowLogger(Tracker):
    name = "mlflow"

    def __init__(self, trainer: TrainerView):
        try:
            import mlflow  # noqa: F401
        except ImportError:
            raise UserError("train.logger=mlflow needs the mlflow package: pip install 'ganforge[mlflow]'") from None
        super().__init__(trainer)
        self.client: Any = None
        self.lines: list[str] = []  # events.txt

    def open(self) -> str:
        from mlflow import MlflowClient

        t = self.trainer
        try:
            self.client = client = MlflowClient()  # MLFLOW_TRACKING_URI, or MLflow's default
            experiment = os.environ.get("MLFLOW_EXPERIMENT_NAME") or "ganforge"
            run, before = self._resumed(), self.run_id
            if run is None:
                tags = {"ganforge.run_dir": str(t.run_dir)}
                run = client.create_run(_experiment_id(client, experiment), run_name=t.run_dir.name, tags=tags)
                self.run_id = run.info.run_id
            else:
                client.update_run(self.run_id, status="RUNNING")
                self.lines = self._sent_lines()
            self._log_params(flat_config(t.cfg.to_dict()), run.data.params)
        except Exception as e:
            raise UserError(
                f"train.logger=mlflow: MLflow could not start the run at {_uri()} ({first_line(e)}); "
                "MLFLOW_TRACKING_URI names the tracking server or store"
            ) from None
        again = "goes on" if before == self.run_id else "started"
        return f"mlflow: run {self.run_id} of experiment {experiment} at {client.tracking_uri} {again}"

    def scalars(self, step: int, values: dict[str, float]) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        metrics = [Metric(key, value, now, step) for key, value in values.items()]
        for i in range(0, len(metrics), 1000):
            self.client.log_batch(self.run_id, metrics=metrics[i : i + 1000])

    def image(self, step: int, grid: np.ndarray) -> None:
        if "key" in inspect.signature(self.client.log_image).parameters:  # MLflow 2.15 and later
            self.client.log_image(self.run_id, grid, key="samples", step=step)
        else:
            self.client.log_image(self.run_id, grid, artifact_file=f"samples/step_{step:07d}.png")

    def text(self, step: int, lines: list[tuple[int, str]]) -> None:
        """events.txt, written whole each time; a line it has (an event a resumed run found again) is not
        added twice."""
        new = [line for _, line in lines if line not in self.lines]
        if new:
            self.lines += new
            self.client.log_text(self.run_id, "\n".join(self.lines) + "\n", EVENTS)

    def finish(self, complete: bool) -> None:
        with contextlib.redirect_stdout(io.StringIO()):  # MLflow prints the run's address: the log has it
            self.client.set_terminated(self.run_id, "FINISHED" if complete else "KILLED")

    def _resumed(self) -> Any:
        """The MLflow run of a resumed run, or None (a new run; or the store no longer has it)."""
        if self.run_id is None:
            return None
        try:
            run = self.client.get_run(self.run_id)
        except Exception:  # not in this store (MLFLOW_TRACKING_URI changed): a new run
            return None
        return run if run.info.lifecycle_stage == "active" else None

    def _sent_lines(self) -> list[str]:
        """The lines of the run's events.txt (a resumed run's: the earlier attempts' events, why they stopped)."""
        if not any(f.path == EVENTS for f in self.client.list_artifacts(self.run_id)):
            return []
        with tempfile.TemporaryDirectory() as folder, contextlib.redirect_stderr(io.StringIO()):  # its progress bar
            return Path(self.client.download_artifacts(self.run_id, EVENTS, folder)).read_text().splitlines()

    def _log_params(self, params: dict[str, str], logged: dict[str, str]) -> None:
        """The params the run lacks; a value a resume changed goes in a tag `resumed.KEY` (MLflow keeps a
        param's first value)."""
        from mlflow.entities import Param, RunTag

        new = [Param(k, v) for k, v in params.items() if k not in logged]
        changed = [RunTag(f"resumed.{k}", v) for k, v in params.items() if k in logged and logged[k] != v]
        for i in range(0, len(new), BATCH):
            self.client.log_batch(self.run_id, params=new[i : i + BATCH])
        for i in range(0, len(changed), BATCH):
            self.client.log_batch(self.run_id, tags=changed[i : i + BATCH])


def flat_config(config: dict[str, Any]) -> dict[str, str]:
    """The config as MLflow params: dotted keys, JSON values (text as is), cut to MLflow's length limit."""
    try:
        from mlflow.utils.validation import MAX_PARAM_VAL_LENGTH as limit
    except ImportError:
        limit = 500  # MLflow's oldest limit

    def items(d: dict[str, Any], prefix: str) -> Iterator[tuple[str, str]]:
        for key, value in d.items():
            if isinstance(value, dict):
                yield from items(value, f"{prefix}{key}.")
            else:
                text = value if isinstance(value, str) else json.dumps(value)
                yield f"{prefix}{key}", text if len(text) <= limit else text[: limit - 3] + "..."

    return dict(items(config, ""))


def _experiment_id(client: Any, name: str) -> str:
    found = client.get_experiment_by_name(name)
    if found is not None:
        return found.experiment_id
    try:
        return client.create_experiment(name)
    except Exception:  # made meanwhile by another run
        found = client.get_experiment_by_name(name)
        if found is None:
            raise
        return found.experiment_id


def _uri() -> str:
    from mlflow import get_tracking_uri

    return get_tracking_uri()


HOOKS.register("mlflow", lambda t: MlflowLogger(t) if wants(t.cfg, "mlflow") and t.world.is_main else None)
