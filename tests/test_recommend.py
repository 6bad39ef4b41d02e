"""The best-trial rule (``nas.recommend``): the most accurate trial, ties to the earliest; its
two forms (in order, by id) agree with each other and with the definition."""

from __future__ import annotations

import math
import random

from hypothesis import given
from hypothesis import strategies as st

from nas.recommend import best, improves, outranks, rank_key

accuracies = st.one_of(
    st.none(), st.just(math.nan), st.sampled_from([0.5, 0.7, 0.9])
)  # few values: many ties


def definition(candidates: list[tuple[float | None, int]]) -> tuple[float, int] | None:
    """The highest finite accuracy, then the lowest id."""
    finite = [(a, i) for a, i in candidates if a is not None and math.isfinite(a)]
    if not finite:
        return None
    top = max(a for a, _ in finite)
    return top, min(i for a, i in finite if a == top)


def test_by_hand() -> None:
    assert improves(0.8, None) and improves(0.9, 0.8)
    assert not improves(0.8, 0.8)  # a tie keeps the first
    assert not improves(None, None) and not improves(math.nan, None) and not improves(0.1, 0.2)
    assert outranks(0.8, 3, (0.8, 5)) and not outranks(0.8, 5, (0.8, 3))
    assert outranks(0.9, 7, (0.8, 1)) and not outranks(math.inf, 1, None)
    assert rank_key(0.9, 4) < rank_key(0.9, 5) < rank_key(0.8, 1)
    assert best([(0.7, 4), (0.9, 6), (None, 1), (0.9, 2), (math.nan, 0)]) == (0.9, 2)
    assert best([(None, 1), (math.nan, 2)]) is None and best([]) is None


@given(st.lists(accuracies, max_size=30), st.randoms())
def test_best_is_the_definition_in_any_order(
    values: list[float | None], rng: random.Random
) -> None:
    candidates = [(a, i) for i, a in enumerate(values)]
    expected = definition(candidates)
    rng.shuffle(candidates)
    assert best(candidates) == expected
    ranked = sorted(
        ((a, i) for a, i in candidates if a is not None and math.isfinite(a)),
        key=lambda c: rank_key(*c),
    )
    assert (ranked[0] if ranked else None) == expected  # rank 1 is the recommendation


@given(st.lists(accuracies, max_size=30))
def test_in_id_order_improves_picks_what_best_picks(values: list[float | None]) -> None:
    """Along trials in id order, the incumbent ``improves`` keeps is ``best``'s trial."""
    incumbent: tuple[float, int] | None = None
    for i, accuracy in enumerate(values):
        if improves(accuracy, incumbent[0] if incumbent else None):
            assert accuracy is not None
            incumbent = (accuracy, i)
    assert incumbent == best((a, i) for i, a in enumerate(values))
