"""The leaderboards of recently viewed jobs (``Leaderboards``: LRU, keyed by job id and creation
time) over one database: each request reads the job's row and ``version`` and brings its
``api.live_board.Leaderboard`` up to it, under the board's lock (with the job's spec as stored
at that version, ``api.specs.stored_spec``: an extension changes its budget); ``Snapshot`` is
what the compare page copies out of one."""

from __future__ import annotations

import contextlib
import threading
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from api.db.models import Job
from api.db.session import session_scope
from api.live_board import MAX_ROWS, Leaderboard
from api.live_targets import Comparison, KeyRun, Unit, area_horizon
from api.specs import stored_spec
from nas.errors import NotFoundError
from nas.job import DatasetRef, JobSpec, RunKey

_JOB: tuple[Any, ...] = (
    Job.id,
    Job.name,
    Job.state,
    Job.error,
    Job.version,
    Job.created_at,
    Job.updated_at,
    Job.started_at,
    Job.finished_at,
    Job.budget_used,
)


@dataclass
class Snapshot:
    """What the compare page needs of one job, copied out of its ``Leaderboard``."""

    id: int
    name: str
    state: str
    dataset: DatasetRef
    run_keys: dict[str, RunKey]
    runs: list[KeyRun]
    n_val: int | None
    unit: Unit
    unit_flops: float
    horizon: float | None


class Leaderboards:
    """The ``Leaderboard`` of recently viewed jobs (LRU, ``capacity`` jobs) over one database."""

    def __init__(self, factory: sessionmaker[Session], capacity: int = 8) -> None:
        self.factory = factory
        self.capacity = capacity
        self._boards: OrderedDict[tuple[int, datetime], Leaderboard] = OrderedDict()
        self._lock = threading.Lock()

    def _board(self, session: Session, job: sa.Row[Any]) -> Leaderboard:
        key = (job.id, job.created_at)  # a reused id (SQLite) is another job
        with self._lock:
            board = self._boards.get(key)
            if board is not None:
                self._boards.move_to_end(key)
                return board
        spec = _spec(session, job.id)
        with self._lock:
            board = self._boards.setdefault(key, Leaderboard(job.id, spec))
            self._boards.move_to_end(key)
            while len(self._boards) > self.capacity:
                self._boards.popitem(last=False)
            return board

    @contextlib.contextmanager
    def _current(self, job_id: int) -> Iterator[tuple[Leaderboard, sa.Row[Any], Session]]:
        """The job's board brought up to its version, and its row, under the board's lock."""
        with session_scope(self.factory) as session:
            job = session.execute(sa.select(*_JOB).where(Job.id == job_id)).one_or_none()
            if job is None:
                raise NotFoundError(f"no job {job_id}", field="job_id")
            board = self._board(session, job)
            with board.lock:
                if job.version > board.version:
                    board.spec = _spec(session, job_id)  # an extension bumps the version
                    board.update(session, job.version)
                yield board, job, session

    def comparison(self, job_id: int) -> Comparison:
        """Compute to target of the job's strategies. NotFoundError for an unknown job."""
        with self._current(job_id) as (board, job, _):
            return board.comparison(job)

    def snapshot(self, job_id: int) -> Snapshot:
        """One job's strategies' runs and units (for /compare). NotFoundError when unknown."""
        with self._current(job_id) as (board, job, _):
            unit, unit_flops = board.unit(job)
            runs = board.runs()
            return Snapshot(
                id=job.id,
                name=job.name,
                state=job.state,
                dataset=board.spec.dataset,
                run_keys=dict(board.run_keys),
                runs=runs,
                n_val=board.n_val,
                unit=unit,
                unit_flops=unit_flops,
                horizon=area_horizon(job.budget_used, runs),
            )

    def answer(
        self, job_id: int, since: int = 0, after: int | None = None, limit: int = MAX_ROWS
    ) -> bytes:
        """The changes of job ``job_id`` since version ``since`` (0: everything), at most
        ``limit`` trials (then ``next`` says where to go on), as a ``LeaderboardOut`` JSON
        body. NotFoundError for an unknown job."""
        with self._current(job_id) as (board, job, _):
            return board.answer(job, since, after, limit)


def _spec(session: Session, job_id: int) -> JobSpec:
    """The job's spec as stored now. NotFoundError when the job has gone meanwhile."""
    data = session.scalar(sa.select(Job.spec).where(Job.id == job_id))
    if data is None:
        raise NotFoundError(f"no job {job_id}", field="job_id")
    return stored_spec(data, job_id)
