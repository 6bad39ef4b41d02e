"""The executor registry: the names ``Settings.executor`` accepts are exactly the registered ones,
each builds an executor, and an unknown name is an error naming the field."""

from __future__ import annotations

import typing

import pytest

from api import executors
from api.settings import Settings
from nas.errors import NotFoundError
from workers.executors.interface import InlineExecutor


def test_settings_accept_exactly_the_registered_executors() -> None:
    annotation = Settings.model_fields["executor"].annotation
    assert sorted(typing.get_args(annotation)) == executors.names() == ["inline", "local", "ray"]


def test_the_factory_makes_the_named_executor_when_called() -> None:
    make = executors.executor_factory(Settings(executor="inline"))
    assert isinstance(make(), InlineExecutor)
    assert executors.get("local") is not executors.get("ray")


def test_an_unknown_executor_names_the_field() -> None:
    with pytest.raises(NotFoundError) as caught:
        executors.executor_factory(Settings.model_construct(executor="slurm"))
    assert caught.value.field == "executor"
    assert "unknown executor 'slurm'; known: inline, local, ray" in str(caught.value)


def test_a_name_is_registered_once() -> None:
    with pytest.raises(ValueError, match="already registered"):
        executors.register("local")(lambda settings: InlineExecutor())
