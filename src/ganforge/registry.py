"""Named registries: model families, adversarial losses, penalties, tasks.

A capability is added by registering it under a name, from ganforge's own modules or from user code,
without editing the code that uses it. An unknown name is a UserError that names the config key and
lists the choices.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from .errors import UserError

T = TypeVar("T")


class Registry(Generic[T]):
    """A name -> object table; `key` is the config key that selects from it (for error messages)."""

    def __init__(self, what: str, key: str = ""):
        self.what, self.key = what, key
        self._entries: dict[str, T] = {}

    def register(self, name: str, obj: T | None = None, *, replace: bool = False) -> Callable[[T], T] | T:
        """`registry.register("name", obj)`, or `@registry.register("name")` as a decorator."""

        def add(item: T) -> T:
            if name in self._entries and not replace:
                raise ValueError(f"{self.what} {name!r} is already registered; pass replace=True to replace it")
            self._entries[name] = item
            return item

        return add if obj is None else add(obj)

    def unregister(self, name: str) -> None:
        self._entries.pop(name, None)

    def get(self, name: str) -> T:
        if not isinstance(name, str) or name not in self._entries:
            where = f"{self.key}={name!r}" if self.key else repr(name)
            raise UserError(f"unknown {self.what} {where}; choose one of {', '.join(self.names())}")
        return self._entries[name]

    def names(self) -> list[str]:
        return list(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)
