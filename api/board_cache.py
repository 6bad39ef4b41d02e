"""The leaderboards of recently viewed jobs (``Leaderboards``: LRU, keyed by job id and creation
time) over one database: a request reads the job's row and ``version`` and brings its
``api.live_board.Leaderboard`` up to it (with the job's spec as stored at that version,
``api.specs.stored_spec``: an extension changes its budget), one request per job at a time;
the leaderboard requests that come meanwhile are answered from the cache. ``Snapshot`` is
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
    """The ``Leaderboard`` of recently viewed jobs (LRU, ``capacity`` jobs) over one database.

    One request per job at a time reads the job's row and brings its board up to it (a
    *check*); a request for the leaderboard that comes while another one checks the same job
    is answered from the board as it is, without waiting for the database (at most one check
    behind), so a slow or locked database holds up one request per job, not all of them. The
    other reads (compare, verdict) wait for the check in flight and then check themselves."""

    def __init__(self, factory: sessionmaker[Session], capacity: int = 8) -> None:
        self.factory = factory
        self.capacity = capacity
        self._boards: OrderedDict[tuple[int, datetime], Leaderboard] = OrderedDict()
        self._latest: dict[int, Leaderboard] = {}  # job id -> the board its last check found
        self._checking: set[int] = set()  # the jobs a request is checking now
        self._lock = threading.Lock()
        self._checked = threading.Condition(self._lock)

    def _board(self, session: Session, job: sa.Row[Any]) -> Leaderboard:
        key = (job.id, job.created_at)  # a reused id (SQLite) is another job
        with self._lock:
            board = self._boards.get(key)
            if board is not None:
                self._boards.move_to_end(key)
                self._latest[job.id] = board
                return board
        spec = _spec(session, job.id)
        with self._lock:
            board = self._boards.setdefault(key, Leaderboard(job.id, spec))
            self._boards.move_to_end(key)
            self._latest[job.id] = board
            while len(self._boards) > self.capacity:
                (old_id, _), old = self._boards.popitem(last=False)
                if self._latest.get(old_id) is old:
                    del self._latest[old_id]
            return board

    def _check(self, job_id: int, top: int | None = None) -> Leaderboard:
        """Read the job's row and bring its board up to its version (the caller is the one
        request checking this job); with ``top``, a board whose columns are not loaded yet
        reads only its first screen of the best ``top`` trials
        (``Leaderboard.load_first_screen``: the page's first request, at a fraction of the
        cost). NotFoundError for an unknown job."""
        with session_scope(self.factory) as session:
            job = session.execute(sa.select(*_JOB).where(Job.id == job_id)).one_or_none()
            if job is None:
                with self._lock:
                    self._latest.pop(job_id, None)
                raise NotFoundError(f"no job {job_id}", field="job_id")
            board = self._board(session, job)
            if not board.version and top is not None:
                if board.can_answer(top) and board.folded == job.version:
                    with board.lock:
                        board.job = job
                else:
                    board.load_first_screen(session, job, top, _spec(session, job_id))
            elif job.version > board.version:  # an extension bumps the version: spec again
                board.update(session, job, _spec(session, job_id))
            else:
                with board.lock:
                    board.job = job
            return board

    def _fresh(self, job_id: int, *, stale_ok: bool, top: int | None = None) -> Leaderboard:
        """The job's board, checked by this call (``top``: ``_check``'s); or, when
        ``stale_ok`` and another request is checking the job now, the board as it is (when
        it can answer: ``Leaderboard.can_answer``)."""
        with self._lock:
            while job_id in self._checking:
                board = self._latest.get(job_id)
                if stale_ok and board is not None and board.can_answer(top):
                    return board
                self._checked.wait()
            self._checking.add(job_id)
        try:
            return self._check(job_id, top)
        finally:
            with self._lock:
                self._checking.discard(job_id)
                self._checked.notify_all()

    @contextlib.contextmanager
    def _current(self, job_id: int) -> Iterator[tuple[Leaderboard, sa.Row[Any]]]:
        """The job's board checked now, and its row, under the board's lock."""
        board = self._fresh(job_id, stale_ok=False)
        with board.lock:
            assert board.job is not None  # a check leaves the row it read
            yield board, board.job

    def comparison(self, job_id: int) -> Comparison:
        """Compute to target of the job's strategies. NotFoundError for an unknown job."""
        with self._current(job_id) as (board, job):
            return board.comparison(job)

    def snapshot(self, job_id: int) -> Snapshot:
        """One job's strategies' runs and units (for /compare). NotFoundError when unknown."""
        with self._current(job_id) as (board, job):
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
        self,
        job_id: int,
        since: int = 0,
        after: int | None = None,
        limit: int = MAX_ROWS,
        top: int | None = None,
    ) -> bytes:
        """The changes of job ``job_id`` since version ``since`` (0: everything, or with
        ``top`` only the best ``top`` ranked trials), at most ``limit`` trials (then ``next``
        says where to go on), as a ``LeaderboardOut`` JSON body; from the board as it is while
        another request checks the job. NotFoundError for an unknown job."""
        board = self._fresh(job_id, stale_ok=True, top=top)
        with board.lock:
            assert board.job is not None  # a check leaves the row it read
            return board.answer(board.job, since, after, limit, top)

    def cached_answer(
        self,
        job_id: int,
        since: int = 0,
        after: int | None = None,
        limit: int = MAX_ROWS,
        top: int | None = None,
    ) -> bytes | None:
        """``answer`` when it costs neither the database nor any work: another request is
        checking the job now and the answer is one its board made before (every trial, or
        nothing new). Never waits (safe on the event loop); None otherwise."""
        with self._lock:
            board = self._latest.get(job_id)
            if job_id not in self._checking or board is None:
                return None
        if not board.lock.acquire(blocking=False):
            return None
        try:
            return None if board.job is None else board.cached(board.job, since, after, limit, top)
        finally:
            board.lock.release()


def _spec(session: Session, job_id: int) -> JobSpec:
    """The job's spec as stored now. NotFoundError when the job has gone meanwhile."""
    data = session.scalar(sa.select(Job.spec).where(Job.id == job_id))
    if data is None:
        raise NotFoundError(f"no job {job_id}", field="job_id")
    return stored_spec(data, job_id)
