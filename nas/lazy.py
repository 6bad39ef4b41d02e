"""Public names of a package loaded at their first use (PEP 562), so importing the package
imports nothing heavy (``nas.layers`` and ``nas.data`` stay torch-free until a name is used)."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(
    namespace: dict[str, Any], exports: Mapping[str, str]
) -> tuple[Callable[[str], object], Callable[[], list[str]]]:
    """The package's ``__getattr__`` and ``__dir__``: a public name of ``exports`` (name ->
    defining module) is imported when first asked for and kept in ``namespace``."""
    package = namespace["__name__"]

    def export(name: str) -> object:
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(exports[name]), name)
        namespace[name] = value
        return value

    def listing() -> list[str]:
        return sorted({*namespace, *namespace.get("__all__", ())})

    return export, listing
