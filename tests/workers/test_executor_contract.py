"""The executor contract (``executor_contract.ExecutorContract``) on the inline executor, and
a check that every executor the server can be given is covered by it."""

from __future__ import annotations

import pytest

from api.executors import names
from tests.workers.executor_contract import ExecutorContract
from workers.executors.interface import InlineExecutor

# server executor name -> the module whose ExecutorContract class covers it
COVERED = {
    "inline": "tests/workers/test_executor_contract.py",
    "local": "tests/workers/test_local_executor.py",
    "ray": "tests/workers/test_ray_executor.py (the bridge's RayExecutor)",
}


@pytest.fixture
def executor() -> InlineExecutor:
    return InlineExecutor()


class TestInlineExecutor(ExecutorContract):
    pass


def test_every_server_executor_is_covered_by_the_contract() -> None:
    assert sorted(names()) == sorted(COVERED)
