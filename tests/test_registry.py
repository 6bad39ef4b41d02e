"""nas.registry.Registry, and every lookup-by-name table of the product being one."""

from __future__ import annotations

import pytest

from api.executors import EXECUTORS
from nas.data.sources import DATASETS, TEST_SPLITS
from nas.errors import NotFoundError
from nas.layers.builders import BLOCKS
from nas.presets import PRESETS
from nas.registry import Registry
from nas.scaling import SCALERS
from nas.strategies import STRATEGIES
from nas.validation import BLOCK_RULES


def test_entries_are_filed_once_and_looked_up_by_name() -> None:
    colours: Registry[int] = Registry("colour", entries={"red": 1})
    assert colours.add("green", 2) == 2
    assert colours.register("blue")(3) == 3
    assert colours.names() == ["blue", "green", "red"]
    assert colours.get("green") == 2 and colours.find("pink") is None
    assert "red" in colours and "pink" not in colours
    with pytest.raises(ValueError, match="colour 'red' is already registered"):
        colours.add("red", 9)
    assert colours.get("red") == 1  # the refused entry changed nothing
    colours.remove("red")
    colours.remove("red")  # forgetting an unknown name is a no-op
    assert colours.names() == ["blue", "green"]


def test_an_unknown_name_names_the_field_and_what_is_known() -> None:
    colours: Registry[int] = Registry("colour", field="paint", entries={"red": 1, "blue": 2})
    with pytest.raises(NotFoundError, match=r"unknown colour 'pink'; known: blue, red") as err:
        colours.get("pink")
    assert err.value.field == "paint"


def test_a_replacing_registry_takes_the_new_entry() -> None:
    colours: Registry[int] = Registry("colour", replace=True, entries={"red": 1})
    colours.add("red", 5)
    assert colours.get("red") == 5


def test_built_ins_load_once_at_the_first_lookup() -> None:
    loads: list[int] = []

    def load() -> None:
        loads.append(1)
        colours.add("red", 1)  # a module registering itself while it loads

    colours: Registry[int] = Registry("colour", load=load)
    assert loads == []  # nothing imported until a lookup
    assert colours.names() == ["red"]
    assert colours.get("red") == 1 and "red" in colours and colours.find("x") is None
    assert loads == [1]


@pytest.mark.parametrize(
    ("registry", "kind", "field", "known"),
    [
        (STRATEGIES, "strategy", "strategy", "diffstride"),
        (BLOCKS, "block", "block", "basic"),
        (BLOCK_RULES, "block", "block", "basic"),
        (SCALERS, "scaling rule", "block", "dense"),
        (DATASETS, "dataset", "source", "fashion-mnist"),
        (TEST_SPLITS, "dataset test split", "source", "fashion-mnist"),
        (EXECUTORS, "executor", "executor", "ray"),
        (PRESETS, "preset", "preset", "resnet18"),
    ],
)
def test_every_table_of_names_is_a_registry(
    registry: Registry[object], kind: str, field: str, known: str
) -> None:
    assert isinstance(registry, Registry)
    assert known in registry.names()
    with pytest.raises(NotFoundError, match=f"unknown {kind} 'no-such-name'") as err:
        registry.get("no-such-name")
    assert err.value.field == field
