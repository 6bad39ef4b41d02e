"""api.heap.settle: the server's heap frozen before it serves."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from api.heap import settle
from nas.strategies import STRATEGIES


@pytest.fixture
def unfrozen() -> Iterator[None]:
    gc.unfreeze()
    yield
    gc.unfreeze()  # the test process collects as before


def test_settle_freezes_what_is_alive_and_loads_the_strategies(unfrozen: None) -> None:
    assert gc.get_freeze_count() == 0
    alive = len(gc.get_objects())
    frozen = settle()
    assert frozen == gc.get_freeze_count() >= alive // 2
    assert not gc.get_objects(generation=2)  # nothing left for a full collection to scan
    assert {"grid", "random", "optuna", "diffstride", "compound", "base"} <= set(STRATEGIES.names())
    before = gc.get_freeze_count()
    gc.collect()
    assert gc.get_freeze_count() == before  # a collection leaves the frozen objects alone
