"""Search strategies, one module each, looked up by name.

``names()`` lists them; ``get(name)`` returns the class. Every strategy implements
``nas.strategies.base.SearchStrategy``. The built-in ones are filed here at the first lookup;
their modules do not register themselves (they would import this package back), and
``register`` files a strategy defined elsewhere.
"""

from __future__ import annotations

from nas.registry import Registry
from nas.strategies.base import SearchStrategy, StrategyContext, TrialRecord


def _load_builtins() -> None:
    """File the built-in strategies (their modules import nothing of this package's names)."""
    from nas.strategies.base_network import BaseNetwork
    from nas.strategies.compound import CompoundScaling
    from nas.strategies.diffstride import DiffStrideSearch
    from nas.strategies.grid import GridSearch
    from nas.strategies.optuna_search import OptunaSearch
    from nas.strategies.random_search import RandomSearch

    for cls in (
        BaseNetwork,
        CompoundScaling,
        DiffStrideSearch,
        GridSearch,
        OptunaSearch,
        RandomSearch,
    ):
        register(cls)


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
