import json

import pytest

from ganforge.api import resolve_config
from ganforge.config import Config, load_config, preset_names
from ganforge.config.overrides import apply_overrides
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


def test_loading_and_overriding_never_change_the_callers_config():
    base = load_config("dcgan")
    copy = load_config(base)
    copy.train.g_optim.lr = 1.0
    changed = apply_overrides(base, ["train.d_optim.lr=0.5", "model.width=8"])
    assert (base.train.g_optim.lr, base.train.d_optim.lr, base.model.width) == (2e-4, 2e-4, 64)
    assert (changed.train.d_optim.lr, changed.model.width) == (0.5, 8)


def test_each_family_brings_its_own_model_keys():
    unet = load_config("unet-restore")
    assert unet.task == "paired" and unet.model.d_width == 16 and not hasattr(unet.model, "width")
    with pytest.raises(UserError, match="model.width"):
        apply_overrides(unet, ["model.width=8"])
    # choosing another family starts its section from that family's defaults, whatever the order of keys
    c = apply_overrides(load_config("dcgan-mnist"), ["model.width=8", "model.family=dcgan", "data.image_size=32"])
    assert (c.model.family, c.model.width, c.model.init, c.task) == ("dcgan", 8, "normal", "unconditional")
    assert not hasattr(c.model, "d_dropout")
    with pytest.raises(UserError, match="model.family='vae'.*dcgan-mnist"):
        apply_overrides(c, ["model.family=vae"])


def test_image_size_errors_name_the_data_key_and_the_sizes_that_fit():
    with pytest.raises(UserError, match=r"data.image_size=48 .*use image size 32 or 64"):
        apply_overrides(load_config("dcgan"), ["data.image_size=48"])
    with pytest.raises(UserError, match=r"data.image_size=32 .*use image size 28\b"):
        apply_overrides(load_config("dcgan-mnist"), ["data.image_size=32"])


def test_a_version_1_config_file_is_read(tmp_path):
    """Run directories of ganforge 0.1 hold a top-level task and a flat model section of every key."""
    old = {
        "preset": "",
        "task": "unconditional",
        "model": {"family": "dcgan", "latent_dim": 100, "width": 16, "n_levels": 4, "up_mode": "upsample"},
        "train": {"steps": 3},
    }
    path = tmp_path / "config.json"
    path.write_text(json.dumps(old))
    c = load_config(path)
    assert (c.model.width, c.train.steps, c.version) == (16, 3, 2)
    path.write_text(json.dumps({**old, "task": "paired"}))
    with pytest.raises(UserError, match="task"):
        load_config(path)
    del old["task"]
    path.write_text(json.dumps({**old, "version": 2}))  # a version-2 file is strict
    with pytest.raises(UserError, match="model.n_levels"):
        load_config(path)


def test_a_version_1_user_file_on_a_preset_keeps_its_meaning(tmp_path):
    path = tmp_path / "mine.json"
    path.write_text(json.dumps({"preset": "unet-restore", "model": {"width": 8, "leaky_slope": 0.1}}))
    c = load_config(path)
    assert (c.model.d_width, c.model.d_leaky_slope) == (8, 0.1)  # 0.1's unet read both as D's


def test_a_family_switch_and_a_size_flag_resolve_together():
    c = resolve_config("dcgan-mnist", image_size=64, overrides=["model.family=dcgan"])
    assert (c.model.family, c.data.image_size) == ("dcgan", 64)
