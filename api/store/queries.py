"""Read queries of ``JobRepository``: pages of trials (sorted, filtered), the best trial, the
Pareto front, counts per state and strategy, a failed trial's log, a trial's progress reports."""

from __future__ import annotations

from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.orm import InstrumentedAttribute, Session

from api.db.models import Job, Trial, TrialDocument, TrialEvent
from api.db.session import session_scope
from api.specs import stored_spec
from api.states import count_by_strategy
from api.store.records import JobCounts, ListedTrial, StoredLog
from api.store.rows import (
    TRIAL_COLUMNS,
    Factory,
    ReportList,
    TrialList,
    budget_of,
    job_not_found,
    select_trials,
    stored_trial,
    trial_not_found,
)
from nas.errors import NotFoundError, OptionsError
from nas.job import CONFIRM
from nas.pareto import pareto_front
from nas.trial import EpochReport
from workers.jobs.confirm import ConfirmationSummary, summarize
from workers.jobs.ranking import RANKED_STATE, UNRANKED_STRATEGIES
from workers.jobs.store import StoredTrial

SORT_COLUMNS: dict[str, InstrumentedAttribute[Any]] = {
    "accuracy": Trial.accuracy,
    "n_params": Trial.n_params,
    "macs": Trial.macs,
    "cost_flops": Trial.cost_flops,
    "wall_seconds": Trial.wall_seconds,
    "number": Trial.number,
    "id": Trial.id,
    "created_at": Trial.created_at,
}


_SUMMARY_COLUMNS = (
    Trial.id,
    Trial.strategy,
    Trial.number,
    Trial.state,
    Trial.spec,
    Trial.params,
    Trial.accuracy,
    Trial.n_params,
    Trial.macs,
    Trial.cost_flops,
    Trial.wall_seconds,
    Trial.epochs_run,
    Trial.attempts,
    Trial.takeovers,
    Trial.free_retries,
    Trial.error,
    TrialDocument.result["learned_strides"].label("learned_strides"),
    TrialDocument.result["stride_readout"].label("stride_readout"),
    TrialDocument.result["test_accuracy"].label("test_accuracy"),
    Trial.copied_from,
    Trial.strides,
)


def ranked_filter() -> list[sa.ColumnElement[bool]]:
    """``workers.jobs.ranking.is_ranked`` in SQL: the trials that take a place in the ranking
    (a test holds the two to the same trials)."""
    return [
        Trial.state == RANKED_STATE.value,
        Trial.strategy.not_in(UNRANKED_STRATEGIES),
        Trial.accuracy.is_not(None),
    ]


def _require(session: Session, job_id: int) -> None:
    if session.scalar(sa.select(Job.id).where(Job.id == job_id)) is None:
        raise job_not_found(job_id)


def _last(reports: ReportList | None) -> EpochReport | None:
    return reports[-1] if reports else None


def _listed(row: sa.Row[Any], last: EpochReport | None) -> ListedTrial:
    """A ``ListedTrial`` from the ``_SUMMARY_COLUMNS`` of a row."""
    return ListedTrial(**row._mapping, last_epoch=last)


def last_progress(session: Session, trial_ids: list[int]) -> dict[int, ReportList]:
    """The latest report of the current attempt of each trial (one query for a page)."""
    found: dict[int, ReportList] = {i: [] for i in trial_ids}
    if not trial_ids:
        return found
    latest = (
        sa.select(sa.func.max(TrialEvent.id))
        .join(Trial, Trial.id == TrialEvent.trial_id)
        .where(TrialEvent.trial_id.in_(trial_ids), TrialEvent.attempt == Trial.attempts)
        .group_by(TrialEvent.trial_id)
    )
    rows = session.execute(
        sa.select(TrialEvent.trial_id, TrialEvent.report).where(TrialEvent.id.in_(latest))
    )
    for trial_id, report in rows:
        found[trial_id] = [EpochReport.model_validate(report)]
    return found


class JobQueries:
    """The read methods of ``JobRepository`` (over its ``factory``)."""

    factory: Factory

    def require(self, job_id: int) -> None:
        """``NotFoundError`` (404) unless the job exists; one primary-key lookup."""
        with session_scope(self.factory) as session:
            _require(session, job_id)

    def _page(
        self,
        columns: tuple[Any, ...],
        job_id: int,
        strategy: str | None,
        state: str | None,
        sort: str,
        descending: bool,
        offset: int,
        limit: int,
        ranked: bool = False,
    ) -> tuple[list[sa.Row[Any]], dict[int, ReportList], int]:
        """Rows of one page (sorted by ``sort``, NULLs last, ties by id), each row's latest
        progress report, and the total matching the filters (``ranked``: only the trials
        ``is_ranked`` ranks); ``NotFoundError`` for an unknown job."""
        column = SORT_COLUMNS.get(sort)
        if column is None:
            raise OptionsError(
                f"unknown sort key {sort!r}; known: {', '.join(SORT_COLUMNS)}", field="sort"
            )
        if offset < 0 or limit < 0:
            raise OptionsError("offset and limit must not be negative", field="limit")
        where = [Trial.job_id == job_id]
        if strategy is not None:
            where.append(Trial.strategy == strategy)
        if state is not None:
            where.append(Trial.state == state)
        if ranked:
            where.extend(ranked_filter())
        ordered = column.desc() if descending else column.asc()
        with session_scope(self.factory) as session:
            total = session.scalar(sa.select(sa.func.count()).select_from(Trial).where(*where))
            if not total:  # only then can the job be missing: its 404 costs no query otherwise
                _require(session, job_id)
                return [], {}, 0
            # The page's ids sorted on narrow (id, key) rows in a subquery, its wide columns read
            # for those rows only: the documents are never touched for the rows it skips. One
            # statement, run on the connection (no ORM loading: the rows are plain columns).
            page = (
                sa.select(Trial.id)
                .where(*where)
                .order_by(ordered.nulls_last(), Trial.id)
                .offset(offset)
                .limit(limit)
            )
            rows = list(
                session.connection().execute(
                    select_trials(columns)
                    .where(Trial.id.in_(page.scalar_subquery()))
                    .order_by(ordered.nulls_last(), Trial.id)
                )
            )
            latest = last_progress(session, [r.id for r in rows])
        return rows, latest, total or 0

    def trials_page(
        self,
        job_id: int,
        *,
        strategy: str | None = None,
        state: str | None = None,
        sort: str = "accuracy",
        descending: bool = True,
        offset: int = 0,
        limit: int = 50,
    ) -> tuple[TrialList, int]:
        """One page of a job's whole trials (requests and results), sorted by ``sort`` (NULLs
        last, ties by id), and the total matching the filters. Each trial carries only its
        latest progress report."""
        rows, latest, total = self._page(
            TRIAL_COLUMNS, job_id, strategy, state, sort, descending, offset, limit
        )
        return [stored_trial(r, latest.get(r.id, ())) for r in rows], total

    def summaries_page(
        self,
        job_id: int,
        *,
        strategy: str | None = None,
        state: str | None = None,
        sort: str = "accuracy",
        descending: bool = True,
        offset: int = 0,
        limit: int = 50,
        ranked: bool = False,
    ) -> tuple[list[ListedTrial], int]:
        """Like ``trials_page``, as ``ListedTrial`` rows read from columns only (no request
        or result documents parsed): what listings need, several times cheaper."""
        rows, latest, total = self._page(
            _SUMMARY_COLUMNS, job_id, strategy, state, sort, descending, offset, limit, ranked
        )
        return [_listed(r, _last(latest.get(r.id))) for r in rows], total

    def summaries_after(self, job_id: int, after: int, limit: int) -> list[ListedTrial]:
        """Up to ``limit`` of the job's trials with ids above ``after``, by id, as
        ``ListedTrial`` rows (no progress reports): an export reads a job in such pages."""
        with session_scope(self.factory) as session:
            rows = session.execute(
                select_trials(_SUMMARY_COLUMNS)
                .where(Trial.job_id == job_id, Trial.id > after)
                .order_by(Trial.id)
                .limit(limit)
            ).all()
        return [_listed(r, None) for r in rows]

    def best_trial(self, job_id: int) -> StoredTrial | None:
        """The job's recommendation, or None: ``nas.recommend.best`` over its ranked trials
        (``ranked_filter``), in SQL: the first by ``rank_key`` (accuracy descending, then id; a
        test holds the two to the same trial); no counts, no progress: what ``/best``, the
        export and weight pruning need."""
        with session_scope(self.factory) as session:
            best_id = session.scalar(
                sa.select(Trial.id)
                .where(Trial.job_id == job_id, *ranked_filter())
                .order_by(Trial.accuracy.desc(), Trial.id)
                .limit(1)
            )
            if best_id is None:
                return None
            row = session.execute(select_trials(TRIAL_COLUMNS).where(Trial.id == best_id)).one()
        return stored_trial(row)

    def pareto(self, job_id: int, cost: Literal["macs", "n_params"]) -> TrialList:
        """The completed trials on the accuracy-vs-``cost`` Pareto front, cheapest first (a
        sweep over three columns, then only the front's rows are read). The rule is
        ``nas.pareto``'s; the SQL window only drops points it would drop (proof there)."""
        column = SORT_COLUMNS[cost]
        with session_scope(self.factory) as session:
            # The sweep's running maximum as a window in SQL: only the points at least as
            # accurate as every cheaper one come back (a few), and one pass settles ties.
            order = (column.asc(), Trial.accuracy.desc(), Trial.id)
            ranked = (
                sa.select(
                    Trial.id,
                    Trial.accuracy,
                    column.label("cost"),
                    sa.func.max(Trial.accuracy)
                    .over(order_by=order, rows=(None, -1))
                    .label("best_before"),
                )
                .where(Trial.job_id == job_id, *ranked_filter(), column.is_not(None))
                .subquery()
            )
            points = session.connection().execute(
                sa.select(ranked.c.id, ranked.c.accuracy, ranked.c.cost)
                .where(
                    sa.or_(
                        ranked.c.best_before.is_(None),
                        ranked.c.accuracy >= ranked.c.best_before,
                    )
                )
                .order_by(ranked.c.cost.asc(), ranked.c.accuracy.desc(), ranked.c.id)
            )
            ids = pareto_front(((r[0], r[1], r[2]) for r in points), presorted=True)
            rows = session.execute(select_trials(TRIAL_COLUMNS).where(Trial.id.in_(ids))).all()
        by_id = {row.id: stored_trial(row) for row in rows}
        return [by_id[i] for i in ids]

    def confirmation(
        self, job_id: int, target: StoredTrial, seeds: int
    ) -> ConfirmationSummary | None:
        """What the confirmation runs of ``target`` (the job's ``best_trial``) scored so far;
        None when the job confirms nothing (``seeds``: its ``confirm_seeds``)."""
        if not seeds:
            return None
        with session_scope(self.factory) as session:
            rows = session.execute(
                select_trials(TRIAL_COLUMNS)
                .where(Trial.job_id == job_id, Trial.strategy == CONFIRM)
                .order_by(Trial.number)
            ).all()
        return summarize(target, (stored_trial(row) for row in rows), seeds)

    def progress(self, job_id: int) -> JobCounts:
        """Trial counts per state and per strategy (every run of the job, zeros too), and the
        job's budget use as stored: ``states`` ``{"queued": 0, "running": 2, "completed": 9,
        ...}``, ``strategies`` ``{"grid": {"queued": 0, ..., "total": 6}, ...}``."""
        with session_scope(self.factory) as session:
            job = session.execute(
                sa.select(Job.state, Job.spec, Job.budget_used).where(Job.id == job_id)
            ).one_or_none()
            if job is None:
                raise job_not_found(job_id)
            rows = session.execute(
                sa.select(Trial.strategy, Trial.state, sa.func.count())
                .where(Trial.job_id == job_id)
                .group_by(Trial.strategy, Trial.state)
            ).all()
        keys = list(stored_spec(job.spec, job_id).run_keys())
        states, strategies = count_by_strategy(keys, rows)
        return JobCounts(
            job_id=job_id,
            state=job.state,
            total=sum(states.values()),
            states=states,
            strategies=strategies,
            budget=budget_of(job.budget_used),
        )

    def trial_log(self, job_id: int, trial_id: int) -> StoredLog:
        """A trial's error and log; NotFoundError for an unknown job, or a trial of another."""
        with session_scope(self.factory) as session:
            if session.scalar(sa.select(Job.id).where(Job.id == job_id)) is None:
                raise job_not_found(job_id)
            row = session.execute(
                sa.select(
                    Trial.id,
                    Trial.strategy,
                    Trial.number,
                    Trial.state,
                    Trial.attempts,
                    Trial.takeovers,
                    Trial.free_retries,
                    Trial.error,
                    TrialDocument.log,
                )
                .join_from(Trial, TrialDocument)
                .where(Trial.id == trial_id, Trial.job_id == job_id)
            ).one_or_none()
        if row is None:
            raise NotFoundError(f"no trial {trial_id} in job {job_id}", field="trial_id")
        return StoredLog(
            job_id=job_id,
            trial=row.id,
            strategy=row.strategy,
            number=row.number,
            state=row.state,
            attempts=row.attempts,
            takeovers=row.takeovers,
            free_retries=row.free_retries,
            error=row.error,
            log=row.log,
        )

    def events(self, trial_id: int, limit: int = 1000) -> ReportList:
        """The latest ``limit`` progress reports of the trial's current attempt, in order."""
        with session_scope(self.factory) as session:
            attempts = session.scalar(sa.select(Trial.attempts).where(Trial.id == trial_id))
            if attempts is None:
                raise trial_not_found(trial_id)
            reports = session.scalars(
                sa.select(TrialEvent.report)
                .where(TrialEvent.trial_id == trial_id, TrialEvent.attempt == attempts)
                .order_by(TrialEvent.id.desc())
                .limit(limit)
            ).all()
        return [EpochReport.model_validate(r) for r in reversed(reports)]
