"""Plug-ins by name, imported lazily (fsspec's ``known_implementations`` style).

Each entry is a name, a ``"module:attribute"`` string imported on first use,
and a one-line install hint for when the import fails, so that a missing extra
is reported by name before any work starts and costs nothing when unused.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from typing import Any, NamedTuple

from segstats.errors import UsageError


class Entry(NamedTuple):
    target: str  # "package.module:attribute"
    hint: str  # how to install what the target needs ("" when always installed)


class Registry:
    """One registry per kind of plug-in (decoders, executors, output formats)."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, Entry] = {}

    def register(self, name: str, target: str, hint: str = "") -> None:
        self._entries[name] = Entry(target, hint)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def entry(self, name: str) -> Entry:
        try:
            return self._entries[name]
        except KeyError:
            choices = ", ".join(self._entries)
            raise UsageError(f"unknown {self.kind} {name!r}; choose one of {choices}") from None

    def load(self, name: str) -> Any:
        """The registered object, imported now.

        Raises:
            UsageError: unknown name, or its module cannot be imported (with the install hint).
        """
        entry = self.entry(name)
        module_name, _, attribute = entry.target.partition(":")
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            hint = f"; {entry.hint}" if entry.hint else ""
            raise UsageError(f"the {self.kind} {name!r} is not available ({exc}){hint}") from None
        return getattr(module, attribute)
