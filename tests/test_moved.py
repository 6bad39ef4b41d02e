"""``nas.moved``: an old module path imports its new home, as the same module object."""

from __future__ import annotations

import importlib
import sys

import pytest

from nas.moved import FINDER, moved


@pytest.fixture
def clean() -> object:
    before = dict(FINDER.moves)
    yield
    FINDER.moves.clear()
    FINDER.moves.update(before)
    sys.modules.pop("nas.an_old_name_of_recommend", None)


def test_an_old_path_imports_the_new_module(clean: object) -> None:
    moved({"nas.an_old_name_of_recommend": "nas.recommend"})
    old = importlib.import_module("nas.an_old_name_of_recommend")
    new = importlib.import_module("nas.recommend")
    assert old is new and old.__name__ == "nas.recommend"
    from nas.an_old_name_of_recommend import best  # type: ignore[import-not-found]

    assert best is new.best


def test_a_path_never_moved_is_still_not_found(clean: object) -> None:
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module("nas.an_old_name_of_recommend")
