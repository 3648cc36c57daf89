"""The rules of config keys: `option` declares a field with its rule, `check_field` enforces it, in one
place for every key (tests/test_config_rules.py walks the tree and tries a value outside each rule)."""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Callable, Iterable
from dataclasses import field
from typing import Any

from ..errors import UserError
from ..registry import TEXT_PARSERS

VERSION = 2  # of the config layout; a config of a newer one is refused (upgrade.py reads older ones)
SEED_LIMIT = 2**32  # seeds are whole numbers in [0, 2^32), NumPy's range, for the CLI, config files and the API


def option(
    default: Any,
    *,
    choices: Iterable[Any] | Callable[[], Iterable[Any]] | None = None,
    positive: bool = False,
    at_least: float | None = None,
    below: float | None = None,
    at_most: float | None = None,
    check: Callable[[Any], str | None] | None = None,
    used: tuple[Callable[[Any], bool], str] | None = None,  # (reads(config), "who reads it")
):
    """A config field with its rules; every field that is not a bool has one (tests/test_config_rules.py
    walks the tree): `choices` (values, or a function giving a registry's names), `positive`, a range
    [`at_least`, `below`) or [`at_least`, `at_most`], or `check` (for free text: the error for a value, or
    None). `used`: (whether a config reads the key, and when it does) for a key only some runs read; a value
    set where it is not read is named in a warning (`unused_settings`)."""
    rules = {"choices": choices, "positive": positive, "range": (at_least, below), "at_most": at_most}
    return field(default=default, metadata=rules | {"check": check, "used": used})


def parsed_by(key: str) -> Callable[[str], str | None]:
    """The check of a free-text key whose grammar lives with what reads it (data/degrade.py registers the
    parser of `data.degrade` in TEXT_PARSERS): the parser's one-line error, or None."""

    def check(text: str) -> str | None:
        if not text:
            return None
        try:
            TEXT_PARSERS.get(key)(text)
        except UserError as e:
            return str(e)
        return None

    return check


def check_seed(seed: Any, where: str) -> int:
    """`seed` if it is a whole number in [0, 2^32), else a UserError naming `where` it came from."""
    if not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed < SEED_LIMIT:
        raise UserError(f"{where} must be a whole number from 0 to {SEED_LIMIT - 1}, got {seed!r}")
    return seed


def version_error(version: int) -> str | None:
    if version > VERSION:
        return f"{version} means a newer ganforge wrote it (this one reads versions 1 to {VERSION}); upgrade ganforge"
    return None if version >= 1 else f"{version}: versions start at 1"


def device_error(name: str) -> str | None:
    if re.fullmatch(r"auto|cpu|cuda(:\d+)?", name):
        return None
    return f"{name!r} is not a device ganforge trains on; use auto, cpu, cuda or cuda:N"


def check_field(f: dataclasses.Field, value: Any, key: str, origin: str) -> None:
    """One field's rules: its choices, a finite number, positive, its range."""
    choices = f.metadata.get("choices")
    if choices is not None:
        allowed = list(choices() if callable(choices) else choices)
        if value not in allowed:
            shown = ", ".join(repr(c) if c == "" else str(c) for c in allowed)
            raise UserError(f"config key {key!r} in {origin} is {value!r}; choose one of {shown}")
    if isinstance(value, float) and not math.isfinite(value):
        raise UserError(f"config key {key!r} in {origin} must be a finite number, got {value}")
    if f.metadata.get("positive") and value <= 0:
        raise UserError(f"config key {key!r} in {origin} must be positive, got {value}")
    low, high = f.metadata.get("range", (None, None))
    top = f.metadata.get("at_most")
    if (low is not None and value < low) or (high is not None and value >= high) or (top is not None and value > top):
        rule = _rule_text(low, high, top, f.metadata.get("positive"))
        raise UserError(f"config key {key!r} in {origin} must be {rule}, got {value}")
    check = f.metadata.get("check")
    error = check(value) if check is not None else None
    if error:
        raise UserError(f"config key {key!r} in {origin}: {error}")


def _rule_text(low: float | None, high: float | None, top: float | None, positive: bool) -> str:
    if high is not None:
        return f"in [{low}, {high})" if low is not None else f"below {high}"
    if top is not None:
        return f"in [{low}, {top}]" if low is not None else ("positive and " if positive else "") + f"at most {top}"
    return f"at least {low}"


def listed(known: tuple[str, ...], what: str) -> Callable[[str], str | None]:
    """The check of a comma-separated list of names, each one of `known` (`what` they are)."""

    def check(text: str) -> str | None:
        unknown = [name for name in (x.strip() for x in text.split(",")) if name and name not in known]
        return f"names {unknown[0]!r}, which is not {what}; they are: {', '.join(known)}" if unknown else None

    return check


def not_blank(what: str) -> Callable[[str], str | None]:
    """The check of a text key that may be empty but not blank."""
    return lambda v: f"blank: name {what} or leave it empty" if v and not v.strip() else None
