"""Property-based tests: random bytes given as images and as checkpoints, and random config trees, bring
out nothing but ganforge's own one-line errors (UserError)."""

import dataclasses

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from ganforge.api import resolve_config
from ganforge.config import Config, preset_names
from ganforge.data.images import load_image, read_size
from ganforge.errors import UserError
from ganforge.runs.checkpoint import load_checkpoint

FUZZ = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
PNG, JPEG, ZIP = b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff\xe0", b"PK\x03\x04"
payloads = st.one_of(st.binary(max_size=2048), st.builds(lambda h, b: h + b, st.sampled_from([PNG, JPEG, ZIP]),
                                                         st.binary(max_size=2048)))  # fmt: skip


@FUZZ
@given(data=payloads)
def test_random_bytes_as_an_image_give_an_image_or_one_clear_error(tmp_path, data):
    path = tmp_path / "x.png"
    path.write_bytes(data)
    for read in (lambda: read_size(path), lambda: load_image(path, 3)):
        try:
            read()
        except UserError as e:
            assert str(path) in str(e) and "\n" not in str(e).strip()


@FUZZ
@given(data=payloads)
def test_random_bytes_as_a_checkpoint_give_one_clear_error(tmp_path, data):
    path = tmp_path / "latest.pt"
    path.write_bytes(data)
    try:
        load_checkpoint(path)
    except UserError as e:
        assert str(path) in str(e)
    else:
        raise AssertionError("random bytes loaded as a checkpoint")


def _keys(section) -> list[str]:
    return [f.name for f in dataclasses.fields(section)]


SECTIONS = {name: _keys(getattr(Config(), name)) for name in ("model", "data", "loss", "train", "health", "eval")}
values = st.one_of(
    st.none(), st.booleans(), st.integers(-10**6, 10**6), st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12), st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=5), st.integers()),
)  # fmt: skip
sections = st.sampled_from(list(SECTIONS)).flatmap(
    lambda name: st.tuples(
        st.just(name), st.dictionaries(st.sampled_from([*SECTIONS[name], "unknown_key"]), values, max_size=3)
    )  # fmt: skip
)
trees = st.builds(
    lambda preset, parts: {"preset": preset, **dict(parts)},
    st.sampled_from(preset_names()),
    st.lists(sections, max_size=3),
)


@FUZZ
@given(tree=trees)
@example(tree={"preset": "dcgan", "model": {"family": []}})  # found by this test: a list as a registry name
def test_random_config_trees_give_a_config_or_one_clear_error(tree):
    try:
        cfg = resolve_config(tree)
    except UserError as e:
        assert "\n" not in str(e).strip()
    else:
        assert isinstance(cfg, Config)
