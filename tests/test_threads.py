"""nas.threads: the request's thread count, else NAS_TORCH_THREADS, else every core."""

from __future__ import annotations

import os

import pytest

from nas.threads import THREADS_ENV, cpu_threads, env_threads


def test_the_request_wins_then_the_variable_then_the_cores(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(THREADS_ENV, raising=False)
    assert env_threads() is None
    assert cpu_threads() == len(os.sched_getaffinity(0))
    assert cpu_threads(3) == 3
    monkeypatch.setenv(THREADS_ENV, " 5 ")
    assert env_threads() == 5
    assert cpu_threads() == 5
    assert cpu_threads(2) == 2
    monkeypatch.setenv(THREADS_ENV, "0")
    assert cpu_threads() == 1  # at least one thread


def test_a_bad_value_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(THREADS_ENV, "four")
    with pytest.raises(ValueError, match="NAS_TORCH_THREADS must be a whole number, got 'four'"):
        cpu_threads()
