"""Random search: uniform, no repeats until exhausted, a pure function of (seed, history)."""

from __future__ import annotations

import pytest
from harness import drive
from pydantic import ValidationError

from nas.search_space import SearchSpace
from nas.strategies.grid import GridSearch
from nas.strategies.random_search import RandomSearch
from nas.strategies.space import key_of_params

SPACE = SearchSpace(strides=[[1, 2, 4]] * 4, widths=[0.5, 1.0])  # some points impossible


def keys(records) -> list:  # type: ignore[no-untyped-def]
    return [key_of_params(r.request.params) for r in records]


def test_no_duplicates_until_exhausted(make_context, objective) -> None:
    grid_keys = keys(drive(GridSearch(make_context(space=SPACE)), objective, 1000))
    search = RandomSearch(make_context(space=SPACE))
    records = drive(search, objective, 1000, report_epochs=False)
    assert len(keys(records)) == len(set(keys(records))) == len(grid_keys)
    assert set(keys(records)) == set(grid_keys)
    assert keys(records) != grid_keys  # not the grid's order
    assert search.is_finished() and search.ask() is None


def test_seeded_reproducibility(make_context, objective) -> None:
    def run(seed: int) -> list:  # type: ignore[type-arg]
        return keys(drive(RandomSearch(make_context(space=SPACE, seed=seed)), objective, 20))

    assert run(1) == run(1)
    assert run(1) != run(2)


def test_allow_repeats(make_context, objective) -> None:
    space = SearchSpace(strides=[[1, 2]] * 4)
    search = RandomSearch(make_context(space=space), {"allow_repeats": True})
    records = drive(search, objective, 40, report_epochs=False)
    assert len(records) == 40 and len(set(keys(records))) < 40
    assert not search.is_finished()


@pytest.mark.parametrize(
    ("options", "field"), [({"allow_repeats": "maybe"}, "allow_repeats"), ({"bogus": 1}, "bogus")]
)
def test_bad_options_name_the_field(make_context, options, field: str) -> None:
    with pytest.raises(ValidationError, match=field):
        RandomSearch(make_context(), options)
