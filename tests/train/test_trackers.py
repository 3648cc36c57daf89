"""The wandb and MLflow trackers (`--logger wandb,mlflow`) on one tiny run that a health event stops and that is
then resumed, read back through each tracker's own client: wandb's offline run files (its own protobuf records)
and, for MLflow, a local tracking store (SQLite) that a real `mlflow server` started here serves over HTTP on
localhost. Nothing leaves this machine: wandb runs offline."""

import io
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import time
import urllib.parse
import urllib.request
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import ganforge
from ganforge.errors import TrainingStopped
from ganforge.train.trackers import event_line, tag
from tests.conftest import tiny_overrides
from tests.test_cli import assert_one_line_error, run_cli

RUN = [
    *tiny_overrides(),
    "train.logger=wandb,mlflow",
    "health.diversity_samples=0",  # not needed here, and it costs time
    "health.grad_exploding_above=1e-9",  # an event at each line with gradient norms
    "health.stop_on=grad_exploding",  # the first one stops the run
]
OFFLINE = {
    "WANDB_MODE": "offline",
    "WANDB_SILENT": "true",
    "WANDB_ERROR_REPORTING": "false",  # no crash reports
    "WANDB_CONSOLE": "off",  # pytest captures the console
    "WANDB_DISABLE_GIT": "true",
    "WANDB_DISABLE_CODE": "true",
    "WANDB_PROJECT": "ganforge-tests",
    "MLFLOW_EXPERIMENT_NAME": "ganforge-tests",
    "NO_PROXY": "127.0.0.1,localhost",
}


@pytest.fixture(scope="module")
def mlflow_store(tmp_path_factory) -> Path:
    """The folder of a local MLflow tracking store: mlflow.db (SQLite), artifacts in mlruns/."""
    return tmp_path_factory.mktemp("mlflow")


@pytest.fixture(scope="module")
def mlflow_server(mlflow_store):
    """`mlflow server` (what `mlflow ui` starts) on a free local port, over the local store the run writes."""
    folder = mlflow_store
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    argv = [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
    argv += ["--backend-store-uri", f"sqlite:///{folder / 'mlflow.db'}", "--artifacts-destination", str(folder / "art")]
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}  # no job workers: one process less
    log = open(folder / "server.log", "wb")  # noqa: SIM115  (closed below)
    server = subprocess.Popen(argv, cwd=folder, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            assert server.poll() is None, (folder / "server.log").read_text()
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                pass
            assert time.monotonic() < deadline, "mlflow server did not answer in 90 s"
            time.sleep(0.2)
        yield url
    finally:
        os.killpg(server.pid, signal.SIGTERM)  # the server and its uvicorn worker: the group started here
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
        log.close()


@pytest.fixture(scope="module")
def tracked(tmp_path_factory, mlflow_store, mlflow_server):
    """A run stopped by its first health event (step 6), then resumed to its 20 steps with nothing stopping it."""
    import wandb

    out = tmp_path_factory.mktemp("tracked") / "digits-tracked"
    with pytest.MonkeyPatch.context() as patch:
        store = f"sqlite:///{mlflow_store / 'mlflow.db'}"  # a local store, no server: MLflow's usual set-up
        for name, value in {**OFFLINE, "MLFLOW_TRACKING_URI": store}.items():
            patch.setenv(name, value)
        patch.chdir(mlflow_store)  # a local store keeps its artifacts in ./mlruns
        patch.delenv("WANDB_API_KEY", raising=False)
        patch.setenv("WANDB_CONFIG_DIR", str(out.parent / "wandb-config"))  # not the user's settings
        with pytest.raises(TrainingStopped):
            ganforge.train("dcgan", data="digits", steps=20, out=out, quiet=True, overrides=RUN)
        stopped_at = max(r["step"] for r in read_jsonl(out / "metrics.jsonl"))
        run = ganforge.train(resume=out, stop_on="", quiet=True)
    wandb.teardown()  # offline, run.finish() leaves wandb-core writing the run's file: wait for it
    return run, stopped_at


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def expected(run) -> tuple[list[dict], dict[int, np.ndarray], list[dict]]:
    """The run's own metrics lines, sample grids (by step, as RGB) and health events."""
    grids = {int(p.stem[5:]): np.asarray(Image.open(p).convert("RGB")) for p in sorted(run.dir.glob("samples/*.png"))}
    return run.metrics(), grids, read_jsonl(run.dir / "events.jsonl")


def scalars_of(row: dict) -> dict[str, float]:
    return {tag(k): v for k, v in row.items() if k not in ("step", "epoch") and isinstance(v, (int, float))}


# -- wandb ------------------------------------------------------------------------------------------------------


def wandb_records(path: Path):
    """The records of a .wandb file, decoded with wandb's own protobuf classes. wandb 0.31 has no Python reader
    left (wandb-core reads them); the file is a LevelDB-style log: a 7-byte header (":W&B", 0xBEE1, version 0),
    then 32 KiB blocks of chunks, each with a CRC-32 of its type and data, its length and its type (1: whole
    record, 2/3/4: first/middle/last part)."""
    from wandb.proto.wandb_internal_pb2 import Record

    data, block = path.read_bytes(), 32768
    assert struct.unpack("<4sHB", data[:7]) == (b":W&B", 0xBEE1, 0)
    pos, parts = 7, b""
    while pos + 7 <= len(data):
        if block - pos % block < 7:  # a block's tail too short for a header is padding
            pos += block - pos % block
            continue
        crc, length, kind = struct.unpack("<IHB", data[pos : pos + 7])
        chunk = data[pos + 7 : pos + 7 + length]
        if kind == 0:  # padding to the end of the block
            pos += block - pos % block
            continue
        assert zlib.crc32(chunk, zlib.crc32(bytes([kind]))) == crc, f"{path}: a damaged record at {pos}"
        pos, parts = pos + 7 + length, parts + chunk
        if kind in (1, 4):
            record = Record()
            record.ParseFromString(parts)
            parts = b""
            yield record


def wandb_run(folder: Path) -> dict:
    """What one offline run holds: its run record, its history by step (values decoded), its exit code."""
    (log,) = folder.glob("run-*.wandb")
    found = {"history": {}}
    for record in wandb_records(log):
        kind = record.WhichOneof("record_type")
        if kind == "run":
            found["run"] = record.run
        elif kind == "history":
            items = {"/".join(i.nested_key) or i.key: json.loads(i.value_json) for i in record.history.item}
            found["history"][record.history.step.num] = items
        elif kind == "exit":
            found["exit_code"] = record.exit.exit_code
    return found


def test_wandb_gets_the_scalars_grids_and_events_and_a_resume_goes_on_in_the_same_run(tracked):
    run, stopped_at = tracked
    rows, grids, events = expected(run)
    attempts = sorted((run.dir / "wandb").glob("offline-run-*"))
    assert len(attempts) == 2  # the stopped run and its resume: two offline runs of one wandb run
    first, resumed = (wandb_run(folder) for folder in attempts)
    run_id = first["run"].run_id
    assert resumed["run"].run_id == run_id and all(folder.name.split("-")[3] == run_id for folder in attempts)
    assert first["run"].display_name == run.dir.name and first["run"].project == "ganforge-tests"
    config = {item.key: json.loads(item.value_json) for item in first["run"].config.update}
    assert config["train"]["logger"] == "wandb,mlflow" and config["model"]["width"] == 8
    assert (first["exit_code"], resumed["exit_code"]) == (1, 0)  # stopped early, then finished
    assert max(first["history"]) == stopped_at and min(resumed["history"]) > stopped_at
    history = {**first["history"], **resumed["history"]}

    # every metrics line, at its step
    logged = {step: items for step, items in history.items() if any(k.startswith("loss/") for k in items)}
    assert sorted(logged) == [r["step"] for r in rows]
    for row in rows:
        want = scalars_of(row)
        assert {k: logged[row["step"]][k] for k in want} == pytest.approx(want, rel=1e-6), row["step"]

    # each sample grid, at its step, with the pixels of the run's own PNG
    shown = {step: items for step, items in history.items() if items.get("samples/_type") == "image-file"}
    assert sorted(shown) == sorted(grids) and len(grids) >= 4
    for step, items in shown.items():
        folder = attempts[0] if step <= stopped_at else attempts[1]
        image = np.asarray(Image.open(folder / "files" / items["samples/path"]).convert("RGB"))
        assert np.array_equal(image, grids[step]), step

    # the health events, and why the run stopped
    lines = [line for items in history.values() for line in items.get("events", "").splitlines()]
    assert {event_line(e) for e in events} <= set(lines) and len(events) >= 2
    assert {e["kind"] for e in events} == {"grad_exploding"}
    (stop,) = [line for line in lines if line.startswith("stopped: ")]
    assert f"step {stopped_at}" in stop and "grad_exploding" in stop


# -- MLflow -----------------------------------------------------------------------------------------------------


def test_mlflow_server_has_the_scalars_grids_events_and_config_of_one_run(tracked, mlflow_server):
    from mlflow import MlflowClient

    run, stopped_at = tracked
    rows, grids, events = expected(run)
    client = MlflowClient(tracking_uri=mlflow_server)  # everything below comes over HTTP from the server
    experiment = client.get_experiment_by_name("ganforge-tests")
    (found,) = client.search_runs([experiment.experiment_id])  # the resume went on in the same run
    run_id = found.info.run_id
    assert found.info.run_name == run.dir.name and found.info.status == "FINISHED"
    assert found.data.tags["ganforge.run_dir"] == str(run.dir)
    params = found.data.params
    assert params["train.logger"] == "wandb,mlflow" and params["model.width"] == "8" and len(params) > 100
    assert params["health.stop_on"] == "grad_exploding" and found.data.tags["resumed.health.stop_on"] == ""

    # every metrics line, at its step
    for key in {k for row in rows for k in scalars_of(row)}:
        history = sorted((m.step, m.value) for m in client.get_metric_history(run_id, key))
        want = [(r["step"], scalars_of(r)[key]) for r in rows if key in scalars_of(r)]
        assert [s for s, _ in history] == [s for s, _ in want], key
        assert [v for _, v in history] == pytest.approx([v for _, v in want], rel=1e-6), key

    # each sample grid, at its step, with the pixels of the run's own PNG (served by the server, as the UI gets it)
    listed = http_json(f"{mlflow_server}/api/2.0/mlflow/artifacts/list?run_id={run_id}&path=images")
    files = [f["path"] for f in listed["files"] if f["path"].endswith(".png")]
    steps = {int(Path(f).name.split("+step+")[1].split("+")[0]): f for f in files}
    assert sorted(steps) == sorted(grids) and len(files) == len(grids)
    for step, path in steps.items():
        image = Image.open(io.BytesIO(artifact(mlflow_server, run_id, path))).convert("RGB")
        assert np.array_equal(np.asarray(image), grids[step]), step

    # the health events, once each, and why the run stopped
    lines = artifact(mlflow_server, run_id, "events.txt").decode().splitlines()
    assert [line for line in lines if not line.startswith("stopped: ")] == [event_line(e) for e in events]
    (stop,) = [line for line in lines if line.startswith("stopped: ")]
    assert f"step {stopped_at}" in stop and {e["kind"] for e in events} == {"grad_exploding"} and len(events) >= 2


def http_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=30) as answer:
        return json.loads(answer.read())


def artifact(server: str, run_id: str, path: str) -> bytes:
    """A run's artifact as the MLflow UI fetches it from the server."""
    query = urllib.parse.urlencode({"path": path, "run_uuid": run_id})
    with urllib.request.urlopen(f"{server}/get-artifact?{query}", timeout=30) as answer:
        return answer.read()


# -- without the packages -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("package", ["wandb", "mlflow"])
def test_a_missing_tracker_package_is_refused_in_one_line(capsys, tmp_path, monkeypatch, package):
    """Before anything is written: the run folder is not made."""
    monkeypatch.setitem(sys.modules, package, None)  # `import wandb` fails as if it were not installed
    sets = [x for o in tiny_overrides() for x in ("--set", o)]
    argv = ["train", "dcgan", "--data", "digits", "--steps", "2", "--logger", f"tensorboard,{package}", *sets]
    code, _, err = run_cli(capsys, *argv, "--out", tmp_path / "r")
    assert_one_line_error(code, err, f"train.logger={package} needs the {package} package", f"'ganforge[{package}]'")
    assert not (tmp_path / "r").exists()
