"""Search strategies, one module each, looked up by name.

``names()`` lists them; ``get(name)`` returns the class. Every strategy implements
``nas.strategies.base.SearchStrategy``.
"""

from __future__ import annotations

from nas.registry import Registry
from nas.strategies.base import SearchStrategy, StrategyContext, TrialRecord


def _load_builtins() -> None:
    from nas.strategies import (  # noqa: F401  (each module registers itself)
        base_network,
        compound,
        diffstride,
        grid,
        optuna_search,
        random_search,
    )


STRATEGIES: Registry[type[SearchStrategy]] = Registry("strategy", load=_load_builtins)


def register(cls: type[SearchStrategy]) -> type[SearchStrategy]:
    """Class decorator: make ``cls`` available under ``cls.name``."""
    return STRATEGIES.add(cls.name, cls)


def names() -> list[str]:
    return STRATEGIES.names()


def get(name: str) -> type[SearchStrategy]:
    return STRATEGIES.get(name)


__all__ = [
    "STRATEGIES",
    "SearchStrategy",
    "StrategyContext",
    "TrialRecord",
    "get",
    "names",
    "register",
]
