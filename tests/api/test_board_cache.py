"""The leaderboard served from its cache while the database is slow (``api.board_cache``): one
request per job reads the database, the others meanwhile are answered from the board as it
is; with nothing in flight every request reads the job's version (a real uvicorn server, on
SQLite and PostgreSQL)."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from api.app import create_app
from api.board_cache import Leaderboards
from api.settings import Settings
from api.store import JobRepository, SqlTrialStore
from nas.trial import TrialRequest
from tests.api.harness import BASE, job_spec, result
from tests.threaded_server import serve_in_thread

JOB_ROW = re.compile(r"\bFROM job\b")


class Gate:
    """While closed, holds every database call that reads the ``job`` table, from any thread,
    in the driver's execute: the database answers nothing about the job."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self.opened = threading.Event()
        self.opened.set()
        self.held = threading.Event()
        sa.event.listen(engine, "before_cursor_execute", self._before)

    def _before(self, *args: Any) -> None:
        statement: str = args[2]
        if not self.opened.is_set() and JOB_ROW.search(statement):
            self.held.set()
            self.opened.wait(60)

    def close(self) -> None:
        self.held.clear()
        self.opened.clear()

    def open(self) -> None:
        self.opened.set()

    def remove(self) -> None:
        self.open()
        sa.event.remove(self.engine, "before_cursor_execute", self._before)


class Job:
    def __init__(self, repo: JobRepository) -> None:
        self.id = repo.create(job_spec()).id
        self.store = SqlTrialStore(repo.factory, self.id)
        self.number = 0

    def finished(self, accuracy: float) -> int:
        trial = self.store.add(
            TrialRequest(spec=BASE, epochs=2, strategy="grid", number=self.number)
        ).id
        self.number += 1
        self.store.mark_running(trial)
        self.store.finish(trial, result(accuracy, 1000 + self.number, 1e9), None)
        return trial


@pytest.fixture
def served(migrated_url: str) -> Iterator[tuple[str, Any, Gate]]:
    app = create_app(Settings(database_url=migrated_url), scheduler=False)
    gate = Gate(app.state.services.repo.factory.kw["bind"])
    try:
        with serve_in_thread(app) as base:
            yield base, app, gate
    finally:
        gate.remove()


def test_the_board_is_served_from_cache_while_a_database_call_is_blocked(
    served: tuple[str, Any, Gate],
) -> None:
    base, app, gate = served
    job = Job(app.state.services.repo)
    first = job.finished(0.7)
    api = f"{base}/api/v1/jobs/{job.id}/leaderboard"
    with httpx.Client(timeout=30) as client:
        v1 = client.get(api).json()["version"]
        second = job.finished(0.8)  # in the database, not yet in the cache

        gate.close()
        slow: dict[str, Any] = {}
        reader = threading.Thread(
            target=lambda: slow.update(httpx.get(api, params={"since": v1}, timeout=60).json())
        )
        reader.start()
        try:
            assert gate.held.wait(30), "the first request never reached the database"
            # meanwhile: answered at once, from the board as the last check left it
            with httpx.Client(timeout=10) as other:
                unchanged = other.get(api, params={"since": v1})
                everything = other.get(api)
            assert unchanged.status_code == everything.status_code == 200
            assert unchanged.json()["version"] == v1 and unchanged.json()["trials"]["id"] == []
            assert everything.json()["version"] == v1
            assert everything.json()["trials"]["id"] == [first]
            assert reader.is_alive()  # the check is still held by the database
        finally:
            gate.open()
            reader.join(30)
        assert slow["version"] > v1 and slow["trials"]["id"] == [second]
        # nothing in flight: the next request reads the version itself
        latest = client.get(api).json()
        assert latest["version"] == slow["version"]
        assert sorted(latest["trials"]["id"]) == [first, second]


def test_with_no_check_in_flight_every_answer_reads_the_database(migrated_url: str) -> None:
    app = create_app(Settings(database_url=migrated_url), scheduler=False)
    repo: JobRepository = app.state.services.repo
    job = Job(repo)
    job.finished(0.7)
    boards = Leaderboards(repo.factory)
    body = boards.answer(job.id)
    v1 = int(re.search(rb'"version":(\d+)', body).group(1))  # type: ignore[union-attr]
    assert boards.answer(job.id, since=v1) == boards.answer(job.id, since=v1)  # made once
    # the cache would answer, but nobody reads the database now: no stale answer
    assert boards.cached_answer(job.id, since=v1) is None
    assert boards.cached_answer(job.id) is None
    second = job.finished(0.9)
    changed = boards.answer(job.id, since=v1)
    assert b'"id":[%d]' % second in changed
