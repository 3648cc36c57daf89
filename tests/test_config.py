import json

import pytest

from ganforge.config import Config, apply_overrides, load_config, preset_names
from ganforge.errors import UserError


def test_presets_resolve_with_seed_values():
    assert {"dcgan-mnist", "dcgan-128", "dcgan"} <= set(preset_names())
    c = load_config("dcgan-128")
    assert (c.model.latent_dim, c.data.image_size, c.data.channels, c.train.batch_size) == (32, 128, 3, 16)
    assert (c.train.steps, c.train.grid_size) == (15000, 6)
    o = c.train.g_optim
    assert (o.name, o.lr, o.clip_value, o.lr_decay) == ("rmsprop", 1e-4, 1.0, 1e-8)
    m = load_config("dcgan-mnist")
    assert (m.train.g_optim.name, m.train.g_optim.lr, m.train.g_optim.beta1) == ("adam", 2e-4, 0.5)
    assert m.model.latent_dim == 100 and m.preset == "dcgan-mnist"


def test_file_config_starts_from_named_preset_and_round_trips(tmp_path):
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"preset": "dcgan-mnist", "train": {"batch_size": 7}}))
    c = load_config(path)
    assert c.train.batch_size == 7 and c.model.family == "dcgan-mnist"
    c.save(tmp_path / "again.json")
    assert load_config(tmp_path / "again.json") == c


@pytest.mark.parametrize(
    "data, match",
    [
        ({"train": {"stepz": 3}}, "train.stepz"),
        ({"train": {"steps": "many"}}, "train.steps"),
        ({"train": {"batch_size": 0}}, "train.batch_size"),
        ({"model": {"family": "vae"}}, "model.family"),
        ({"model": 3}, "model"),
    ],
)
def test_bad_config_files_name_the_key(tmp_path, data, match):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))
    with pytest.raises(UserError, match=match):
        load_config(path)


def test_overrides_are_typed():
    c = apply_overrides(Config(), ["train.g_optim.lr=1e-3", "data.jitter=false", "train.steps=5"])
    assert c.train.g_optim.lr == 1e-3 and c.data.jitter is False and c.train.steps == 5
    for bad, match in [
        ("train.steps=x", "int"),
        ("train.nope=1", "train.nope"),
        ("train=1", "section"),
        ("steps", "key=value"),
    ]:
        with pytest.raises(UserError, match=match):
            apply_overrides(Config(), [bad])


def test_unknown_preset_and_broken_json(tmp_path):
    with pytest.raises(UserError, match="unknown preset"):
        load_config("stylegan9")
    (tmp_path / "x.json").write_text("{")
    with pytest.raises(UserError, match="x.json"):
        load_config(tmp_path / "x.json")
