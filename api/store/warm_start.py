"""Warm starts: a new job begins with the known trials of a finished one."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from api.db.models import Job, Trial, TrialDocument, utcnow
from api.specs import stored_spec
from api.states import TERMINAL_JOB_STATES
from api.store.rows import CANCELLED, insert_trials
from nas.errors import OptionsError
from nas.job import JobSpec, RunKey
from workers.jobs.store import TrialState

_COPIED = (
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
    Trial.strides,
    Trial.error,
    Trial.attempts,
    Trial.started_at,
    Trial.finished_at,
    TrialDocument.request,
    TrialDocument.result,
)
"""What a copy keeps of its source trial (whose id it keeps as ``copied_from``)."""
_KNOWN = frozenset({TrialState.COMPLETED, TrialState.PRUNED, TrialState.FAILED})
"""The trials a copy may be made of (skipped and cancelled ones are not known)."""


def warm_start(session: Session, job_id: int, spec: JobSpec) -> dict[str, int]:
    """Copy into the new job ``job_id`` the known trials of the job ``spec.warm_start``: for
    each strategy with the same label, name, options and ``from`` in both (a chained one only
    with the strategy it starts from: ``JobSpec.shared_with``), the longest run of its
    trials (by number, from 0) that completed, were pruned or failed (a cancelled or skipped
    one ends the run: it is not known). The copies keep their results and say where they come
    from (``copied_from``); the runner replays them free of charge. A repeated job's runs are
    matched repeat by repeat (``_shared_run_keys``). Their counts per state."""
    theirs = _source(session, spec)
    keys = _shared_run_keys(spec, theirs)
    rows = session.execute(
        sa.select(Trial.id, *_COPIED)
        .join_from(Trial, TrialDocument)
        .where(Trial.job_id == spec.warm_start, Trial.strategy.in_(keys))
        .order_by(Trial.strategy, Trial.number)
    ).all()
    now = utcnow()
    copies = [
        {
            **{column.key: row._mapping[column.key] for column in _COPIED},
            "strategy": keys[row.strategy],
            "job_id": job_id,
            "created_at": now,
            "version": 1,
            "copied_from": row.id,
        }
        for row in _known_runs(rows)
    ]
    if copies:
        insert_trials(session, copies)
    counts: dict[str, int] = {}
    for copy in copies:
        counts[copy["state"]] = counts.get(copy["state"], 0) + 1
    return counts


def _shared_run_keys(spec: JobSpec, theirs: JobSpec) -> dict[str, str]:
    """The key each shared strategy run's trials are stored under in the source job, mapped to
    its key here, repeat by repeat: ``grid/r1`` there is ``grid/r1`` here, and a job run once
    (``grid``) gives its trials to repeat 0 of a repeated one (seeded ``seed + 0`` as it was)."""
    shared = [config.key for config in spec.shared_with(theirs)]
    repeats = min(spec.repeats, theirs.repeats)
    return {
        RunKey(key, None if theirs.repeats == 1 else r).key: RunKey(
            key, None if spec.repeats == 1 else r
        ).key
        for key in shared
        for r in range(repeats)
    }


def _source(session: Session, spec: JobSpec) -> JobSpec:
    """The spec of the finished job ``spec.warm_start``; OptionsError (``warm_start``) when
    there is none, it has not ended, or its trials do not apply to ``spec`` (other data, base,
    space, training or epochs)."""
    source_id = spec.warm_start
    source = session.execute(
        sa.select(Job.state, Job.spec).where(Job.id == source_id)
    ).one_or_none()
    if source is None:
        raise OptionsError(f"no job {source_id} to start from", field="warm_start")
    if source.state not in TERMINAL_JOB_STATES:
        raise OptionsError(
            f"job {source_id} is {source.state}: start from a finished job", field="warm_start"
        )
    theirs = stored_spec(source.spec, source_id)
    for name, mine, other in (
        ("dataset", spec.dataset, theirs.dataset),
        ("base", spec.base_spec(), theirs.base_spec()),
        ("space", spec.space, theirs.space),
        ("train", spec.train, theirs.train),
        ("budget.epochs_per_trial", spec.budget.epochs_per_trial, theirs.budget.epochs_per_trial),
    ):
        if mine != other:
            raise OptionsError(
                f"job {source_id} has another {name}: its trials do not apply here",
                field="warm_start",
            )
    return theirs


def _known_runs(rows: Sequence[sa.Row[Any]]) -> list[sa.Row[Any]]:
    """Of ``rows`` (by strategy, then number), each strategy's longest run from number 0 of
    known trials: a missing number, or a trial not known (skipped, cancelled), ends it."""
    known: list[sa.Row[Any]] = []
    expected: dict[str, int] = {}
    for row in rows:
        if row.number != expected.get(row.strategy, 0):
            continue  # after the end of this strategy's known run
        if row.state not in _KNOWN or row.error == CANCELLED:
            expected[row.strategy] = -1  # the run ends here
            continue
        expected[row.strategy] = row.number + 1
        known.append(row)
    return known
