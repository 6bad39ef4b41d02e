"""Search strategies, one module each, looked up by name.

``names()`` lists them; ``get(name)`` returns the class. Every strategy implements
``nas.strategies.base.SearchStrategy``.
"""

from __future__ import annotations

from nas.errors import NotFoundError
from nas.strategies.base import SearchStrategy, StrategyContext, TrialRecord

_REGISTRY: dict[str, type[SearchStrategy]] = {}


def register(cls: type[SearchStrategy]) -> type[SearchStrategy]:
    """Class decorator: make ``cls`` available under ``cls.name``."""
    if cls.name in _REGISTRY:
        raise ValueError(f"strategy {cls.name!r} is already registered")
    _REGISTRY[cls.name] = cls
    return cls


def _load_builtins() -> None:
    from nas.strategies import (  # noqa: F401  (each module registers itself)
        compound,
        diffstride,
        grid,
        optuna_search,
        random_search,
    )


def names() -> list[str]:
    _load_builtins()
    return sorted(_REGISTRY)


def get(name: str) -> type[SearchStrategy]:
    _load_builtins()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise NotFoundError(
            f"unknown strategy {name!r}; known: {', '.join(sorted(_REGISTRY))}", field="strategy"
        ) from None


__all__ = ["SearchStrategy", "StrategyContext", "TrialRecord", "get", "names", "register"]
