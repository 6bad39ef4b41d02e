"""The leaderboard's incremental folds (``api.folds``) agree with the batch rules in nas/: each
strategy's best-so-far curve is ``nas.compare.best_so_far`` of its steps (the trial named at each
point is the recommendation, ``nas.compare.recommendations``), its steps are its finished trials,
and the front is ``nas.pareto``'s; folded in any number of slices, the same."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from api.folds import Folds
from nas.compare import Step, best_so_far, recommendations
from nas.pareto import pareto_front

STRATEGIES = ("grid", "random")
Trial = tuple[str, str, float | None, float | None, int | None]  # strategy, state, cost, acc, macs

trials = st.lists(
    st.tuples(
        st.sampled_from(STRATEGIES),
        st.sampled_from(["completed", "completed", "pruned", "failed"]),
        st.one_of(st.none(), st.just(math.nan), st.sampled_from([0.0, 1.0, 2.5])),
        st.one_of(st.none(), st.just(math.nan), st.sampled_from([0.5, 0.7, 0.9])),
        st.one_of(st.none(), st.sampled_from([10, 20, 30])),
    ),
    max_size=40,
)


def fold(rows: list[Trial], cuts: list[int]) -> Folds:
    """``rows`` (in finish order, ids 100, 101, ...) folded in slices ending at ``cuts``."""
    columns = list(zip(*rows, strict=True)) if rows else [()] * 5
    strategies, states, costs, accuracies, macs = (list(c) for c in columns)
    ids = [100 + i for i in range(len(rows))]
    folds = Folds(STRATEGIES)
    start = 0
    for end in [*sorted(cuts), len(rows)]:
        end = min(end, len(rows))
        folds.extend(range(start, end), strategies, states, costs, accuracies, macs, ids)
        start = max(start, end)
    return folds


def usable(value: float | None) -> bool:
    return value is not None and math.isfinite(value)


@given(trials, st.lists(st.integers(0, 40), max_size=4))
def test_the_folds_are_the_batch_rules(rows: list[Trial], cuts: list[int]) -> None:
    folds = fold(rows, cuts)
    for strategy in STRATEGIES:
        mine = [(100 + i, row) for i, row in enumerate(rows) if row[0] == strategy]
        steps = [
            Step(
                cost if usable(cost) else 0.0,
                acc if state == "completed" and usable(acc) else None,
                acc if state == "completed" and usable(acc) else None,
            )
            for _, (_, state, cost, acc, _) in mine
        ]
        found = folds.curves[strategy]
        assert found.steps == steps
        assert found.step_trials == [i for i, _ in mine]
        assert list(zip(found.cost, found.accuracy, strict=True)) == best_so_far(steps)
        named = [mine[r][0] for _, r in recommendations(steps) if r is not None]
        assert found.trial == list(dict.fromkeys(named))  # each recommendation once, in order
        seen = [s.seen for s in steps if s.seen is not None]
        assert (found.low, found.high) == ((min(seen), max(seen)) if seen else (None, None))
    points = {}  # of identical points, the first to finish
    for i, (_, state, _, acc, macs) in enumerate(rows):
        if state == "completed" and usable(acc) and macs is not None:
            assert acc is not None
            points.setdefault((acc, macs), 100 + i)
    expected = pareto_front([(i, acc, float(macs)) for (acc, macs), i in points.items()])
    assert folds.front.ids == expected
