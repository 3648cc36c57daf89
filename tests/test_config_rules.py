"""Every config key has its rule, enforced in one place: the tree is walked key by key (every family's model
section too) and each key is given a value outside its rule; config files that are odd in other ways
(nested too deeply, from a newer version, with a key twice, with contradicting legacy keys) are refused
in one line; settings only some runs read are named when set where unused."""

import dataclasses
import json

import pytest

import ganforge
from ganforge.config import Config, load_config, model_options, preset_dict, preset_names
from ganforge.config.overrides import apply_overrides
from ganforge.models import FAMILIES
from tests.test_cli import assert_one_line_error, run_cli

# A value each free-text key refuses (its `check`), since no range can be derived for text.
BAD_TEXT = {
    "model.stage_blocks": "1,x",
    "data.name": "   ", "data.degrade": "noise=loud", "data.val_name": "  ", "data.diffaugment": "sparkle",
    "train.device": "tpu", "health.stop_on": "boredom", "version": 99, "train.init_from": "   ",
    "train.logger": "tensorboard,neptune",
}  # fmt: skip


def _preset_of(family: str) -> Config:
    name = next(p for p in preset_names() if preset_dict(p)["model"]["family"] == family)
    return load_config(name)


def _keys(obj, prefix=""):
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if dataclasses.is_dataclass(value):
            yield from _keys(value, f"{prefix}{f.name}.")
        else:
            yield f"{prefix}{f.name}", f, value


def _outside(key, f, value):
    """A value outside the rule of field `f`, or None for a bool (its type is its rule)."""
    m = f.metadata
    if isinstance(value, bool):
        return None
    if m.get("check") is not None:
        return BAD_TEXT[key]
    if m.get("choices") is not None:
        return 2 if isinstance(value, int) else "no-such-choice"
    low, high = m.get("range", (None, None))
    if m.get("at_most") is not None:
        return m["at_most"] + 1
    if high is not None:
        return high
    if m.get("positive"):
        return 0
    if low is not None:
        return low - 1
    raise AssertionError(f"config key {key} has no rule: give its option() choices, a range or a check")


def every_key():
    seen = set()
    for family in FAMILIES.names():
        has_preset = any(preset_dict(p)["model"]["family"] == family for p in preset_names())
        cfg = _preset_of(family) if has_preset else load_config({"model": {"family": family}})  # the defaults
        for key, f, value in _keys(cfg):
            if (key, family if key.startswith("model.") else "") not in seen:
                seen.add((key, family if key.startswith("model.") else ""))
                yield cfg, key, f, value


CASES = list(every_key())


def test_the_walk_covers_every_section_and_family():
    keys = {key for _, key, _, _ in CASES}
    assert {"train.seed", "health.warmup", "eval.images", "data.max_pixels", "train.dist_timeout"} <= keys
    families = {cfg.model.family for cfg, key, _, _ in CASES if key.startswith("model.")}
    assert families == set(FAMILIES.names())


@pytest.mark.parametrize("cfg, key, f, value", CASES, ids=[f"{c.model.family}:{k}" for c, k, _, _ in CASES])
def test_every_key_refuses_a_value_outside_its_rule(cfg, key, f, value):
    bad = _outside(key, f, value)
    if bad is None:
        return
    with pytest.raises(ganforge.UserError) as refused:
        apply_overrides(cfg, {key: bad})
    assert key in str(refused.value) and "\n" not in str(refused.value)


@pytest.mark.parametrize(
    "name, text, needles",
    [
        ("new.json", json.dumps({**Config().to_dict(), "version": 3}), ["newer ganforge", "upgrade"]),
        ("twice.json", '{"preset": "dcgan", "train": {"steps": 10, "steps": 20}}', ["'steps' appears twice"]),
        ("legacy.json", '{"task": "paired", "data": {"name": "digits"}}', ["task 'paired'", "contradicts"]),
        ("config.json", '{"train_data": "shapes", "steps": 10, "epochs": 2}', ["both steps and epochs"]),
    ],
    ids=["newer-version", "key-twice", "legacy-task-without-model", "seed002-steps-and-epochs"],
)
def test_odd_config_files_are_refused_in_one_line(capsys, tmp_path, name, text, needles):
    config = tmp_path / name
    config.write_text(text)
    code, _, err = run_cli(capsys, "train", config, "--out", tmp_path / "r")
    assert_one_line_error(code, err, name, *needles)
    assert not (tmp_path / "r").exists()


def test_model_configs_and_set_are_checked_together(tmp_path):
    """An unpadded 4-level U-Net needs 92 px or more: the file asks for it, --set gives 124 px. The file was
    checked on top of the preset's 64 px before --set applied, and the pair refused."""
    models = tmp_path / "model_configs.json"
    models.write_text('{"generator": {"padding": false, "n_levels": 4}}')
    cfg = ganforge.resolve_config("unet-restore", model_configs=models, overrides=["data.image_size=124"])
    assert cfg.model.padding is False and cfg.data.image_size == 124
    with pytest.raises(ganforge.UserError, match="data.image_size=64"):
        ganforge.resolve_config("unet-restore", model_configs=models)


def test_settings_a_run_does_not_read_are_named(tmp_path):
    over = ["model.width=8", "data.image_size=32", "train.batch_size=8", "train.replay_prob=0.9", "data.jitter=false"]
    run = ganforge.train("dcgan", steps=1, out=tmp_path / "r", quiet=True, overrides=over)
    log = (run.dir / "log.txt").read_text()
    assert "train.replay_prob=0.9 is set, but only train.replay_size > 0 read it" in log
    assert "data.jitter=False is set, but only image-to-image runs read it" in log
    assert "warning: train.batch_size" not in log


def test_every_family_default_section_passes_its_own_rules():
    for family in FAMILIES.names():
        cfg = Config()
        cfg.model = model_options(family)
        for key, f, value in _keys(cfg.model, "model."):
            assert _outside(key, f, value) != value
