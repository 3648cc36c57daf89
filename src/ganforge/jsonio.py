"""JSON as strict readers expect it (a value that is not a finite number is written as null), and read
back from files that a crash, a hand edit or another program may have left odd: invalid UTF-8, a line cut
short, a line that is not an object, nesting deep enough to exhaust the parser's stack."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from .files import append_lines, atomic_write


def finite(obj: Any) -> Any:
    """`obj` with every NaN or infinite float replaced by None, through dicts, lists and tuples."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [finite(v) for v in obj]
    return obj


def dumps(obj: Any, **kwargs: Any) -> str:
    return json.dumps(finite(obj), allow_nan=False, **kwargs)


class DuplicateKey(ValueError):
    pass


def _refuse_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise DuplicateKey(f"the key {key!r} appears twice in one object")
        seen[key] = value
    return seen


def loads(text: str, unique_keys: bool = False) -> Any:
    """`json.loads`, where nesting too deep for the parser is a ValueError like any other bad JSON, and
    (`unique_keys`) a key given twice in one object is one too (a config file must not say two things)."""
    try:
        return json.loads(text, object_pairs_hook=_refuse_duplicates if unique_keys else None)
    except RecursionError:
        raise ValueError("the JSON is nested too deeply") from None


def read_text(path: Path) -> str:
    """A text file as UTF-8, with bytes that are not UTF-8 replaced (a file damaged or edited elsewhere)."""
    return Path(path).read_bytes().decode("utf-8", errors="replace")


def read_lines(path: Path, key: str | None = None) -> list[dict]:
    """The JSON objects of a JSON-lines file, one a line. A line cut short by a crash, a line that is not
    a JSON object, and (with `key`) an object without an integer `key`, are skipped."""
    if not Path(path).is_file():
        return []
    return parse_lines(read_text(path), key)


def parse_lines(text: str, key: str | None = None) -> list[dict]:
    """The JSON objects of JSON-lines text (see read_lines)."""
    rows = []
    for line in text.splitlines():
        try:
            row = loads(line)
        except ValueError:
            continue
        if not isinstance(row, dict):
            continue
        if key is not None and (not isinstance(row.get(key), int) or isinstance(row.get(key), bool)):
            continue
        rows.append(row)
    return rows


def append_line(path: Path, obj: Any) -> None:
    append_lines(path, [dumps(obj) + "\n"])


def write_lines(path: Path, rows: list[Any]) -> None:
    """Replace a JSON-lines file with `rows`, atomically."""
    atomic_write(path, "".join(dumps(r) + "\n" for r in rows))


def write_json(path: Path, obj: Any, indent: int | None = 2) -> Path:
    """A JSON file, written atomically."""
    return atomic_write(path, dumps(obj, indent=indent) + "\n")


def is_number(v: object) -> bool:
    """A finite int or float (not a bool)."""
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
