"""Module paths that a rename moved keep importing: ``import workers.leaderboard`` after the
module became ``workers.jobs.ranking`` imports ``workers.jobs.ranking`` and binds it under both
names (one module object, so one set of globals). A package lists its moves in its ``__init__``
(``moved({"workers.leaderboard": "workers.jobs.ranking"})``); no file is left at the old path, so
the old base name no longer reads as a second module."""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
from collections.abc import Mapping, Sequence
from types import ModuleType


class MovedModules(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds the old names of moved modules and loads them as their new homes."""

    def __init__(self) -> None:
        self.moves: dict[str, str] = {}

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None = None,
        target: ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname not in self.moves:
            return None
        return importlib.util.spec_from_loader(fullname, self)

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        # The new home, as it is: the import system keeps its own __name__ and __spec__.
        return importlib.import_module(self.moves[spec.name])

    def exec_module(self, module: ModuleType) -> None:
        """Nothing: the new home ran when it was imported."""


FINDER = MovedModules()


def moved(moves: Mapping[str, str]) -> None:
    """Let each old module path in ``moves`` import its new one."""
    FINDER.moves.update(moves)
    if FINDER not in sys.meta_path:
        sys.meta_path.insert(0, FINDER)
