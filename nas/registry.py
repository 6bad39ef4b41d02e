"""One shape for every "look it up by name" table: strategies, blocks, block rules, scaling
rules, datasets and executors are each a ``Registry``.

``add`` (or the ``register(name)`` decorator) files an entry under a name, refusing a name
already taken unless the registry allows replacing; ``get`` returns it or raises a
``NotFoundError`` that names the field and lists what is known; ``find`` returns None instead;
``names`` lists them, sorted. ``load``, when given, is called once before the first lookup to
file the built-in entries (importing their modules), so importing a registry stays cheap; those
modules never import the registry's module back (no import circle: ``tests/test_imports.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Generic, TypeVar

from nas.errors import NotFoundError

T = TypeVar("T")


class Registry(Generic[T]):
    """Entries of one ``kind`` ("strategy", "block", ...) by name, starting with ``entries``;
    ``field`` is the request field a lookup failure names (default: ``kind``)."""

    def __init__(
        self,
        kind: str,
        *,
        field: str | None = None,
        load: Callable[[], None] | None = None,
        replace: bool = False,
        entries: Mapping[str, T] | None = None,
    ) -> None:
        self.kind = kind
        self.field = field or kind
        self.replace = replace
        self._load = load
        self._entries: dict[str, T] = dict(entries or {})

    def add(self, name: str, entry: T) -> T:
        """File ``entry`` under ``name``; a name already taken is refused (unless ``replace``)."""
        if name in self._entries and not self.replace:
            raise ValueError(f"{self.kind} {name!r} is already registered")
        self._entries[name] = entry
        return entry

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator form of ``add``."""

        def decorate(entry: T) -> T:
            return self.add(name, entry)

        return decorate

    def remove(self, name: str) -> None:
        """Forget ``name`` (nothing happens when it is unknown)."""
        self._entries.pop(name, None)

    def get(self, name: str) -> T:
        """The entry of ``name``; an unknown name raises ``NotFoundError`` on ``field``."""
        found = self.find(name)
        if found is None:
            raise NotFoundError(
                f"unknown {self.kind} {name!r}; known: {', '.join(self.names())}",
                field=self.field,
            )
        return found

    def find(self, name: str) -> T | None:
        """The entry of ``name``, or None."""
        self._ensure_loaded()
        return self._entries.get(name)

    def names(self) -> list[str]:
        self._ensure_loaded()
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        self._ensure_loaded()
        return name in self._entries

    def _ensure_loaded(self) -> None:
        load, self._load = self._load, None
        if load is not None:
            load()
