"""Seed 002's config.json and model_configs.json, read as they are."""

import json

import pytest

from ganforge.cli import main
from ganforge.config import load_config, load_seed002
from ganforge.errors import UserError
from tests.test_cli import assert_one_line_error, run_cli
from tests.train.test_loop import write_folder

RUN = {
    "train_data": "shapes",
    "latent_dim": 64,
    "image_size": 32,
    "batch_size": 4,
    "epochs": 3,
    "lr_g": 1e-4,
    "lr_d": 4e-4,
    "beta1": 0.5,
    "seed": 3,
    "degrade": ["noise=0.05", "blur=1"],
}
MODEL = {
    "generator": {
        "in_channels": 3,
        "out_channels": 3,
        "n_levels": 3,
        "padding": True,
        "batch_norm": True,
        "up_mode": "pixelshuffle",
    },
    "discriminator": {"width": 8},
    "loss_weights": {"l1": 50, "bce": 1, "tv": 0.1, "ssim": 2, "gmsd": 1},
}


def write(tmp_path, name, data):
    path = tmp_path / name
    path.write_text(json.dumps(data))
    return path


def test_both_files_map_onto_the_config(tmp_path):
    cfg = load_seed002(write(tmp_path, "config.json", RUN), write(tmp_path, "model_configs.json", MODEL))
    assert (cfg.model.family, cfg.model.n_channels, cfg.model.n_levels, cfg.model.up_mode) == (
        "unet",
        64,
        3,
        "pixelshuffle",
    )
    assert cfg.model.padding and cfg.model.batch_norm and cfg.model.d_width == 8
    assert (cfg.train.g_optim.lr, cfg.train.d_optim.lr, cfg.train.epochs, cfg.train.seed) == (1e-4, 4e-4, 3, 3)
    assert (cfg.loss.l1, cfg.loss.gan_weight, cfg.loss.tv, cfg.loss.ssim, cfg.loss.gmsd) == (50, 1, 0.1, 2, 1)
    assert cfg.data.degrade == "noise=0.05,blur=1" and cfg.data.name == "shapes"
    # the run file alone is recognised by load_config, as `ganforge train config.json` does
    assert load_config(tmp_path / "config.json").model.n_channels == 64


@pytest.mark.parametrize(
    "run, model, match",
    [
        ({"latent_dims": 8}, None, "latent_dims"),
        ({"batch_size": "16", "latent_dim": 8}, None, "batch_size"),
        (None, {"generator": {"up_mode": "nearest"}}, "up_mode"),
        (None, {"generator": {"depth": 3}}, "depth"),
        (None, {"optimizer": {}}, "optimizer"),
        (None, {"loss_weights": {"ssim": "high"}}, "ssim"),
        ({"latent_dim": 64}, {"generator": {"n_channels": 32}}, "latent_dim"),
    ],
)
def test_bad_keys_and_values_name_the_file_and_key(tmp_path, run, model, match):
    run_path = write(tmp_path, "config.json", run) if run is not None else None
    model_path = write(tmp_path, "model_configs.json", model) if model is not None else None
    with pytest.raises(UserError, match=match) as err:
        load_seed002(run_path, model_path)
    if match != "up_mode":
        assert "config" in str(err.value)


def test_cli_trains_from_the_seed_files(capsys, tmp_path):
    clean = write_folder(tmp_path / "clean", n=8, size=40)
    run = {**RUN, "train_data": str(clean), "steps": 2}
    run.pop("epochs")
    code, out, _ = run_cli(
        capsys,
        "train",
        write(tmp_path, "config.json", run),
        "--model-configs",
        write(tmp_path, "model_configs.json", MODEL),
        "--out",
        tmp_path / "r",
        "--quiet",
    )
    assert code == 0, out
    rows = [json.loads(x) for x in (tmp_path / "r" / "metrics.jsonl").read_text().splitlines()]
    assert {"g_l1", "g_ssim", "g_gmsd", "g_tv"} <= set(rows[-1])
    code, _, err = run_cli(
        capsys, "train", write(tmp_path, "bad.json", {"latent_dim": 64, "epochz": 1}), "--out", tmp_path / "r2"
    )
    assert_one_line_error(code, err, "epochz", "bad.json")
    assert main(["info", str(tmp_path / "r")]) == 0
