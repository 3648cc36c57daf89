"""Every registry of ganforge, in the bottom module: a capability is added by registering it under a name,
from ganforge's own files (each model, loss or data file fills the registry it serves) or from user code,
without editing the code that uses it.

The config asks this module, not the model, loss and data modules, which names a key may take
(`names_for("model.family")`) and how a free-text key is parsed (`TEXT_PARSERS`), so the config imports
nothing above it. An unknown name is a UserError that names the config key and lists the choices.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

from .errors import UserError

T = TypeVar("T")
_BY_KEY: dict[str, Registry[Any]] = {}


class Registry(Generic[T]):
    """A name -> object table; `keys` are the config keys that select from it (for error messages and
    for `names_for`)."""

    def __init__(self, what: str, *keys: str):
        self.what, self.keys = what, keys
        self.key = " / ".join(keys)
        for key in keys:
            _BY_KEY[key] = self
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


def names_for(key: str) -> list[str]:
    """The names the registry behind config key `key` holds now (a name registered later counts at once)."""
    return _BY_KEY[key].names()


# What each registry holds is typed where it is filled: a Family (models/family.py), an AdversarialLoss
# class, a ReconstructionLoss and a penalty factory (losses.py), an optimiser factory (train/optim.py), a
# feature-extractor factory (metrics/features.py), a Task class (train/tasks.py), a hook factory
# (train/hooks.py), and a text parser that raises UserError on bad text.
FAMILIES: Registry[Any] = Registry("model family", "model.family")
ADVERSARIAL_LOSSES: Registry[Any] = Registry("adversarial loss", "loss.gan")
RECONSTRUCTION_LOSSES: Registry[Any] = Registry("reconstruction loss")
PENALTIES: Registry[Any] = Registry("penalty")
OPTIMIZERS: Registry[Any] = Registry("optimizer", "train.g_optim.name", "train.d_optim.name")
EXTRACTORS: Registry[Any] = Registry("feature extractor", "eval.features")
TASKS: Registry[Any] = Registry("task")
HOOKS: Registry[Any] = Registry("training hook")
TEXT_PARSERS: Registry[Callable[[str], object]] = Registry("parser of a free-text config key")
