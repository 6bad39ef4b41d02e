"""The leaderboard's data: compact, incremental snapshots of one job's trials and aggregates.

A ``Leaderboard`` holds one job's trials as columns (one Python list per field) built from the
narrow ``trial`` rows (the documents live in ``trial_document``; only the unfinished trials'
requests are read, for the epochs they ask for). ``api.board_cache.Leaderboards`` keeps one per
recently viewed job and, on each request, reads the job's ``version``; when that moved, the
board loads only the trials whose ``trial.version`` is newer (index ``ix_trial_job_id_version``)
and merges them. The aggregates (``api.folds``: best-so-far per strategy, the Pareto front) are
folds over the finished trials in finish order (``finished_at``, then id), extended by the
newly finished trials or, when a change falls before the end of that order, recomputed; either
way once per job version, shared by every client; so are the trial counts per state and
strategy.

A client sends the ``version`` of its last answer as ``since`` and gets the trials changed since
then, as parallel arrays, each trial marked ``ranked`` or not by
``workers.jobs.ranking.is_ranked`` (the rule ``nas leaderboard`` ranks by too). The job's version
is read before its trials, so a concurrent change is at worst sent twice, never lost. A
DiffStride trial's strides text (``trial.strides``, its learned strides once it finished) comes
with its row; its strides per epoch are read on demand, one trial at a time
(``api.store.trajectory.stride_trajectory``).
"""

from __future__ import annotations

import contextlib
import gc
import heapq
import itertools
import threading
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from api.db.models import TRIAL_STATES, Trial, TrialDocument, TrialEvent
from api.folds import Folds
from api.live_targets import Comparison, KeyRun, Unit, area_horizon, job_unit
from api.live_targets import comparison as compare_strategies
from api.schemas.leaderboard import (
    MAX_ERROR_CHARS,
    Cursor,
    JobSummary,
    LeaderboardOut,
    Progress,
    TrialColumns,
)
from api.states import UNFINISHED_TRIAL_STATES, count_by_strategy
from nas.job import CONFIRM, JobSpec
from nas.recommend import rank_key
from workers.jobs.ranking import is_ranked
from workers.jobs.store import FINISHED_STATES, BudgetUse, TrialState

MAX_ROWS = 100_000
"""Most trials in one answer; more come through ``next`` (a cursor)."""
FINISHED = FINISHED_STATES
_STATE_CODES = {s: i for i, s in enumerate(TRIAL_STATES)}


# ---- the columns -------------------------------------------------------------------------

# The cache's columns, in the order of the SELECT below.
FIELDS = (
    "id",
    "strategy",
    "number",
    "state",
    "spec",
    "accuracy",
    "n_params",
    "macs",
    "cost_flops",
    "wall_seconds",
    "epoch",
    "error",
    "finished",
    "version",
    "epochs",
    "strides",
)
_SELECT: tuple[Any, ...] = (
    Trial.id,
    Trial.strategy,
    Trial.number,
    Trial.state,
    Trial.spec,
    Trial.accuracy,
    Trial.n_params,
    Trial.macs,
    Trial.cost_flops,
    Trial.wall_seconds,
    Trial.epochs_run,
    Trial.error,
    # Only ordered, never shown: as the database's text (ISO, one time zone per server), which
    # sorts like the time and skips making thousands of datetimes in Python.
    sa.cast(Trial.finished_at, sa.Text),
    Trial.version,
    # the epochs asked for: filled in from the request documents of unfinished trials
    sa.null(),
    Trial.strides,
)
_I = {name: i for i, name in enumerate(FIELDS)}
# What the summary alone needs of every trial (a cold first screen reads only these).
_SUMMARY: tuple[Any, ...] = (
    Trial.id,
    Trial.strategy,
    Trial.state,
    Trial.accuracy,
    Trial.macs,
    Trial.cost_flops,
    sa.cast(Trial.finished_at, sa.Text),
)
_ID, _STRATEGY, _STATE, _ACCURACY = _I["id"], _I["strategy"], _I["state"], _I["accuracy"]
_MACS, _COST, _EPOCH, _ERROR = _I["macs"], _I["cost_flops"], _I["epoch"], _I["error"]
_FINISHED_AT, _EPOCHS = _I["finished"], _I["epochs"]
_SPEC, _STRIDES = _I["spec"], _I["strides"]


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """No cyclic garbage collection meanwhile: building the columns of 10,000s of trials makes
    as many short-lived row tuples, and each collection they set off walks the whole heap
    (a third of a cold build's time in a server process)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _finish_order(
    finished: Sequence[Any], ids: Sequence[int], positions: Iterable[int]
) -> list[int]:
    """``positions`` in finish order: by ``finished_at``, then id (a missing ``finished_at``,
    which the store never leaves on a finished trial, sorts last)."""
    # two stable sorts on C-level keys: no key tuple per trial
    by_id = sorted(positions, key=ids.__getitem__)
    known = [i for i in by_id if finished[i] is not None]
    known.sort(key=finished.__getitem__)
    return known + [i for i in by_id if finished[i] is None]


def _new_names(known: Sequence[str], found: Iterable[str]) -> list[str]:
    """The names in ``found`` not in ``known``, each once, in order of appearance."""
    have = set(known)
    return [name for name in dict.fromkeys(found) if name not in have]


def _fold_search(
    folds: Folds,
    order: Sequence[int],
    strategies: Sequence[str],
    states: Sequence[str],
    costs: Sequence[float | None],
    accuracies: Sequence[float | None],
    macs: Sequence[int | None],
    ids: Sequence[int],
) -> None:
    """Fold the trials at positions ``order`` (finish order) of these columns, leaving out
    the confirmation runs: they are no search, on neither the curves nor the front."""
    search = [i for i in order if strategies[i] != CONFIRM]
    folds.extend(search, strategies, states, costs, accuracies, macs, ids)


def _best_ranked(
    strategies: Sequence[str],
    states: Sequence[str],
    accuracies: Sequence[Any],
    ids: Sequence[int],
    top: int,
) -> list[int]:
    """The positions of the ``top`` best ranked trials of these columns, best first
    (``nas.recommend``'s order: most accurate, ties to the lower id)."""
    ranked = map(is_ranked, strategies, states, accuracies)
    candidates = itertools.compress(range(len(ids)), ranked)
    return heapq.nsmallest(top, candidates, key=lambda i: rank_key(accuracies[i], ids[i]))


def _short(error: str | None) -> str | None:
    if error is None or len(error) <= MAX_ERROR_CHARS:
        return error
    return error[: MAX_ERROR_CHARS - 1] + "…"


# ---- one job -----------------------------------------------------------------------------


class Leaderboard:
    """One job's trials as columns at ``version``, and its aggregates (use under ``lock``)."""

    def __init__(self, job_id: int, spec: JobSpec) -> None:
        """``spec``: the job's stored ``JobSpec`` (``api.specs.stored_spec``); ``Leaderboards``
        hands it the current one whenever the job's version moves (an extension changes the
        budget)."""
        self.job_id = job_id
        self.lock = threading.Lock()
        self.version = 0
        """The job version the columns stand at (0: not loaded yet)."""
        self.folded = 0
        """The job version the folds and counts stand at: ``version``, or a first screen's."""
        self.spec = spec
        # the keys trials are stored under (grid/r0, grid/r1, ... when the job repeats), each
        # with the strategy and repeat it stands for
        self.run_keys = spec.run_keys()
        self.job_strategies = list(self.run_keys)
        self.strategies = list(self.job_strategies)  # then any other key a trial has
        self.diffstride = sorted(
            {config.key for config in spec.strategies if config.name == "diffstride"}
        )
        self.n_val = spec.dataset.validation_size()
        self._comparison: tuple[int, Comparison] | None = None
        self.cols: list[list[Any]] = [[] for _ in FIELDS]
        self.where: dict[int, int] = {}  # trial id -> position in the columns
        self.counts: Counter[tuple[str, str]] = Counter()  # (strategy, state) -> trials
        self.job: sa.Row[Any] | None = None  # the job's row as the last update read it
        self.full_json: tuple[int, bytes] | None = None  # (version, body) of the last full answer
        # (version, job row, body) of the last answer with nothing new (since = version)
        self.unchanged_json: tuple[int, sa.Row[Any], bytes] | None = None
        # (version, top, body) of the last first screen (the best ``top`` trials)
        self.top_json: tuple[int, int, bytes] | None = None
        # (top, rows) of a first screen read before the columns were, at version ``folded``:
        # the best ``top`` ranked trials as rows of FIELDS (``load_first_screen``)
        self.screen: tuple[int, list[Any]] | None = None
        self._reset_folds()

    # ---- loading ------------------------------------------------------------------------

    def update(self, session: Session, job: sa.Row[Any], spec: JobSpec | None = None) -> None:
        """Bring the board up to ``job`` (its row, read just now): read the trials changed
        since ``self.version`` from the database without holding ``lock`` (readers go on
        meanwhile), then merge them, bring the aggregates along and take ``job`` (and its
        ``spec``, when given) under it. One caller at a time (``Leaderboards`` sees to it)."""
        with _gc_paused():
            self._update(session, job, spec)

    def _update(self, session: Session, job: sa.Row[Any], spec: JobSpec | None) -> None:
        rows, asked, epochs = self._read(session)
        with self.lock:
            if spec is not None:
                self.spec = spec
            if not self.version:  # a first screen's folds, if any, start over with the columns
                self._reset_folds()
                self.screen = None
            self._apply(rows, asked, epochs)
            self.version = self.folded = job.version
            self.job = job

    def can_answer(self, top: int | None) -> bool:
        """Whether the board holds an answer as it is: its columns, or (``top``) a first
        screen of the best ``top`` trials."""
        if self.job is None:
            return False
        screen = self.screen
        return bool(self.version) or (screen is not None and top is not None and top == screen[0])

    def load_first_screen(
        self, session: Session, job: sa.Row[Any], top: int, spec: JobSpec | None = None
    ) -> None:
        """Before the columns are loaded: the summary (counts, folds) from a narrow read of
        every trial, and the full rows of only the ``top`` best ranked ones, at ``job``'s
        version; a job of at most ``top`` trials loads its columns instead (``update``). One
        caller at a time, like ``update``."""
        with _gc_paused():
            connection = session.connection()
            rows = connection.execute(
                sa.select(*_SUMMARY).where(Trial.job_id == self.job_id).order_by(Trial.id)
            ).all()
            if len(rows) <= top:
                self._update(session, job, spec)
                return
            ids, strategies, states, accuracies, macs, costs, finished = (
                list(c) for c in zip(*rows, strict=True)
            )
            best = [ids[i] for i in _best_ranked(strategies, states, accuracies, ids, top)]
            found = {
                row[_ID]: row
                for row in connection.execute(sa.select(*_SELECT).where(Trial.id.in_(best)))
            }
            screen = [found[i] for i in best if i in found]
            known = self.strategies + _new_names(self.strategies, strategies)
            folds = Folds(known)
            order = _finish_order(finished, ids, (i for i, s in enumerate(states) if s in FINISHED))
            _fold_search(folds, order, strategies, states, costs, accuracies, macs, ids)
            counts = Counter(zip(strategies, states, strict=True))
            with self.lock:
                if spec is not None:
                    self.spec = spec
                self.strategies = known
                self.folds, self.counts = folds, counts
                self.screen = (top, screen)
                self.folded = job.version
                self.job = job

    def _apply(
        self,
        rows: Sequence[sa.Row[Any]],
        asked: dict[int, int | None],
        epochs: dict[int, int],
    ) -> None:
        """Merge what ``_read`` found into the columns, counts and folds (under ``lock``)."""
        running = [r[_ID] for r in rows if r[_STATE] == TrialState.RUNNING]
        fresh, refold = self._merge(rows)
        cols = self.cols
        for trial_id in epochs.keys() | set(running):
            cols[_EPOCH][self.where[trial_id]] = epochs.get(trial_id, 0)
        for trial_id, asked_epochs in asked.items():
            if trial_id in self.where:  # else it changed after the first query: next time
                cols[_EPOCHS][self.where[trial_id]] = asked_epochs
        errors = cols[_ERROR]
        for row in rows:
            if row[_ERROR] is not None:
                i = self.where[row[_ID]]
                errors[i] = _short(errors[i])
        self.strategies.extend(_new_names(self.strategies, (r[_STRATEGY] for r in rows)))
        self._fold(fresh, refold)

    def _read(
        self, session: Session
    ) -> tuple[Sequence[sa.Row[Any]], dict[int, int | None], dict[int, int]]:
        """The trials changed since ``self.version`` (every one on the first load), the epochs
        the unfinished ones ask for, and the last epoch reported by the running ones."""
        # Core, not ORM, execution: plain rows, no per-row ORM bookkeeping
        where = [Trial.job_id == self.job_id]
        changed = sa.select(*_SELECT)
        if self.version:
            where.append(Trial.version > self.version)
        else:  # the first load takes every trial, stamped or not, in table order
            changed = changed.order_by(Trial.id)
        connection = session.connection()
        rows = connection.execute(changed.where(*where)).all()
        asked: dict[int, int | None] = dict(
            connection.execute(
                sa.select(Trial.id, TrialDocument.request["epochs"].as_integer())
                .join_from(Trial, TrialDocument)
                .where(*where, Trial.state.in_(UNFINISHED_TRIAL_STATES))
            ).all()
        )
        running = [r[_ID] for r in rows if r[_STATE] == TrialState.RUNNING]
        epochs: dict[int, int] = {}
        if running:
            epochs = dict(
                session.execute(
                    sa.select(TrialEvent.trial_id, sa.func.max(TrialEvent.epoch))
                    .join(Trial, Trial.id == TrialEvent.trial_id)
                    .where(TrialEvent.trial_id.in_(running), TrialEvent.attempt == Trial.attempts)
                    .group_by(TrialEvent.trial_id)
                ).all()
            )
        return rows, asked, epochs

    def _merge(self, rows: Sequence[sa.Row[Any]]) -> tuple[list[int], bool]:
        """Merge ``rows`` into the columns and counts: the positions of the newly finished
        trials, and whether a finished trial changed (the folds start over)."""
        cols = self.cols
        refold = False
        fresh: list[int] = []  # positions of newly finished trials
        if not self.where and rows:
            self.cols = cols = [list(c) for c in zip(*rows, strict=True)]
            self.where = {trial_id: i for i, trial_id in enumerate(cols[_ID])}
            fresh = [i for i, s in enumerate(cols[_STATE]) if s in FINISHED]
            self.counts = Counter(zip(cols[_STRATEGY], cols[_STATE], strict=True))
        else:
            for row in rows:
                i = self.where.get(row[_ID])
                if i is None:
                    i = self.where[row[_ID]] = len(cols[_ID])
                    for col, value in zip(cols, row, strict=True):
                        col.append(value)
                else:
                    was = cols[_STATE][i]
                    self.counts[cols[_STRATEGY][i], was] -= 1
                    refold |= was in FINISHED  # finished trials never change: be safe
                    for col, value in zip(cols, row, strict=True):
                        col[i] = value
                    self.counts[row[_STRATEGY], row[_STATE]] += 1
                    if row[_STATE] in FINISHED:
                        fresh.append(i)
                    continue
                self.counts[row[_STRATEGY], row[_STATE]] += 1
                if row[_STATE] in FINISHED:
                    fresh.append(i)
        return fresh, refold

    # ---- aggregates: folds over finished trials in finish order ---------------------------

    def _reset_folds(self) -> None:
        self.folds = Folds(self.strategies)

    def _key(self, i: int) -> tuple[Any, int]:
        """The finish-order key of the trial at position ``i``: ``(finished_at, id)``."""
        return self.cols[_FINISHED_AT][i], self.cols[_ID][i]

    def _order(self, positions: Iterable[int]) -> list[int]:
        """``positions`` of the columns in finish order (``_finish_order``)."""
        return _finish_order(self.cols[_FINISHED_AT], self.cols[_ID], positions)

    def _fold(self, fresh: list[int], refold: bool) -> None:
        """Extend the folds by the newly finished trials at ``fresh``; start over when one of
        them finished before the last one folded, or ``refold``."""
        order = self._order(fresh)
        folds = self.folds
        if order and folds.last_key is not None and not refold:
            first = self._key(order[0])
            refold = first[0] is None or folds.last_key[0] is None or first <= folds.last_key
        if refold:
            self._reset_folds()
            folds = self.folds
            order = self._order(i for i, s in enumerate(self.cols[_STATE]) if s in FINISHED)
        folds.add_strategies(self.strategies)
        if not order:
            return
        cols = self.cols
        _fold_search(
            folds,
            order,
            cols[_STRATEGY],
            cols[_STATE],
            cols[_COST],
            cols[_ACCURACY],
            cols[_MACS],
            cols[_ID],
        )
        folds.last_key = self._key(order[-1])

    def progress(self) -> Progress:
        states, per = count_by_strategy(
            self.strategies, ((strategy, state, n) for (strategy, state), n in self.counts.items())
        )
        return Progress(total=sum(states.values()), states=states, strategies=per)

    # ---- answers ------------------------------------------------------------------------

    def _columns(self, positions: list[int] | None) -> TrialColumns:
        """The trials at ``positions`` (None: all of them) as response columns."""
        cols = self.cols
        if positions is not None:
            cols = [[c[i] for i in positions] for c in cols]
        return self._columns_of(cols)

    def _columns_of(self, cols: list[list[Any]]) -> TrialColumns:
        """Trials given as columns of FIELDS (one list per field) as response columns."""
        if not cols:
            cols = [[] for _ in FIELDS]
        codes = {s: i for i, s in enumerate(self.strategies)}
        specs: dict[str, int] = {}  # block strings repeat: each is sent once
        spec_codes = [specs.setdefault(s, len(specs)) for s in cols[_SPEC]]
        texts: dict[str | None, int] = {}
        stride_codes = [texts.setdefault(s, len(texts)) for s in cols[_STRIDES]]
        return TrialColumns.model_construct(
            id=cols[_ID],
            strategy=[codes[s] for s in cols[_STRATEGY]],
            number=cols[_I["number"]],
            state=[_STATE_CODES[s] for s in cols[_STATE]],
            spec=spec_codes,
            specs=list(specs),
            accuracy=cols[_ACCURACY],
            n_params=cols[_I["n_params"]],
            macs=cols[_MACS],
            cost_flops=cols[_COST],
            wall_seconds=cols[_I["wall_seconds"]],
            epoch=cols[_EPOCH],
            epochs=cols[_I["epochs"]],
            error=cols[_ERROR],
            ranked=list(map(is_ranked, cols[_STRATEGY], cols[_STATE], cols[_ACCURACY])),
            strides=stride_codes,
            stride_texts=list(texts),
        )

    # ---- compute to target (api.live_targets) -------------------------------------------------

    def runs(self) -> list[KeyRun]:
        """Each strategy key's finished trials in finish order (copies: safe outside the lock);
        the confirmation runs are no strategy's."""
        curves = self.folds.curves
        return [
            KeyRun(s, list(curves[s].steps), list(curves[s].step_trials))
            for s in self.strategies
            if s != CONFIRM
        ]

    def unit(self, job: sa.Row[Any]) -> tuple[Unit, float]:
        """What compute-to-target counts and the FLOPs in one (``api.live_targets.job_unit``)."""
        return job_unit(self.spec, job.budget_used)

    def comparison(self, job: sa.Row[Any]) -> Comparison:
        """Compute to target per strategy at this version (computed once per version)."""
        if self._comparison is not None and self._comparison[0] == self.folded:
            return self._comparison[1]
        runs = self.runs()
        horizon = area_horizon(job.budget_used, runs)
        found = compare_strategies(
            runs, self.run_keys, self.n_val, self.job_id, self.unit(job), horizon
        )
        self._comparison = (self.folded, found)
        return found

    def cached(
        self, job: sa.Row[Any], since: int, after: int | None, limit: int, top: int | None = None
    ) -> bytes | None:
        """The answer to ``(since, after, top)`` when it is one made before at this version
        and ``job`` row (every trial, the best ``top``, or nothing new), else None: no work,
        so it may be asked on the event loop."""
        if not self.version:  # a first screen only
            found = self.top_json
            return found[2] if found is not None and found[:2] == (self.folded, top) else None
        if since == 0 or since > self.version:
            if top is not None and top < len(self.where):
                found = self.top_json
                return found[2] if found is not None and found[:2] == (self.version, top) else None
            full = self.full_json
            if full is not None and full[0] == self.version and len(self.where) <= limit:
                return full[1]
        elif since == self.version and after is None:
            unchanged = self.unchanged_json
            if unchanged is not None and unchanged[0] == self.version and unchanged[1] == job:
                return unchanged[2]
        return None

    def top_ranked(self, top: int) -> list[int]:
        """The positions of the ``top`` best ranked trials, best first (``nas.recommend``'s
        order: most accurate, ties to the lower id): the first screen of the page's table."""
        cols = self.cols
        return _best_ranked(cols[_STRATEGY], cols[_STATE], cols[_ACCURACY], cols[_ID], top)

    def answer(
        self, job: sa.Row[Any], since: int, after: int | None, limit: int, top: int | None = None
    ) -> bytes:
        """What changed since ``(since, after)``, as a ``LeaderboardOut`` JSON body (serialized
        here, under the lock: it shares lists with the cache); a full answer with ``top``
        holds only the ``top`` best ranked trials (``partial``: the page's first screen, the
        rest asked next). Full answers, first screens and answers with nothing new are
        cached. Before the columns are loaded, only the first screen read by
        ``load_first_screen`` (``can_answer``)."""
        found = self.cached(job, since, after, limit, top)
        if found is not None:
            return found
        if not self.version:
            if self.screen is None or top != self.screen[0]:
                raise RuntimeError("the board has no columns and no such first screen")
            columns = [list(c) for c in zip(*self.screen[1], strict=True)]
            if columns:
                columns[_ERROR] = list(map(_short, columns[_ERROR]))
            return self._body(job, True, self._columns_of(columns), None, top)
        full = since == 0 or since > self.version
        n = len(self.where)
        positions: list[int] | None = None
        cursor = None
        partial = False
        if full:
            if top is not None and top < n:
                positions = self.top_ranked(top)
                partial = True
            elif n > limit:
                positions = list(range(n))
            since, after = 0, None
        else:
            versions, ids = self.cols[_I["version"]], self.cols[_ID]
            positions = [
                i
                for i, v in enumerate(versions)
                if v > since or (after is not None and v == since and ids[i] > after)
            ]
        if positions is not None and len(positions) > limit and not partial:
            versions, ids = self.cols[_I["version"]], self.cols[_ID]
            positions.sort(key=lambda i: (versions[i], ids[i]))
            positions = positions[:limit]
            last = positions[-1]
            cursor = Cursor(since=versions[last], after=ids[last])
        if partial:
            return self._body(job, True, self._columns(positions), None, top)
        return self._body(job, full, self._columns(positions), cursor, None, since, after)

    def _body(
        self,
        job: sa.Row[Any],
        full: bool,
        trials: TrialColumns,
        cursor: Cursor | None,
        top: int | None,
        since: int = 0,
        after: int | None = None,
    ) -> bytes:
        """The answer's JSON body around ``trials`` (``top``: a first screen of the best
        ``top``), kept for the next asker when it is a first screen, every trial, or nothing
        new."""
        version = self.version or self.folded
        changed = full or since < version
        out = LeaderboardOut(
            version=version,
            full=full,
            job=JobSummary(
                id=job.id,
                name=job.name,
                state=job.state,
                error=job.error,
                created_at=job.created_at,
                updated_at=job.updated_at,
                started_at=job.started_at,
                finished_at=job.finished_at,
                strategies=self.job_strategies,
                diffstride=self.diffstride,
                epochs_per_trial=self.spec.budget.epochs_per_trial,
                secondary=self.spec.objectives.secondary,
                budget=(
                    {k: BudgetUse.model_validate(v) for k, v in job.budget_used.items()}
                    if job.budget_used
                    else None
                ),
            ),
            states=list(TRIAL_STATES),
            strategies=list(self.strategies),
            progress=self.progress(),
            trials=trials,
            best_so_far=[self.folds.curves[s].curve() for s in self.strategies]
            if changed
            else None,
            pareto=self.folds.front_out() if changed else None,
            comparison=self.comparison(job) if changed else None,
            next=cursor,
            partial=top is not None,
        )
        body = out.model_dump_json().encode()
        if top is not None:
            self.top_json = (version, top, body)
        elif full and cursor is None:
            self.full_json = (version, body)
        elif not changed and after is None:
            self.unchanged_json = (version, job, body)
        return body
