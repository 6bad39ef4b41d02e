"""The service's storage API: jobs (``JobRepository``) and their trials (``SqlTrialStore``).

``SqlTrialStore`` implements ``workers.jobs.store.TrialStore`` over the database, so the runner
drives a server job exactly as it drives an embedded one. Both hand out plain values (the records of
``api.store.records``: ``StoredJob``, ``ListedTrial``, ...; ``workers.jobs.store.StoredTrial``;
``EpochReport``), never ORM objects and never HTTP bodies (the routers map records to
``api.schemas`` bodies with ``api.schemas.mapping``); every method is one short transaction.

Every change to a job or any of its trials bumps the job's ``version`` (for incremental clients);
a changed trial is stamped with that version (``trial.version``). A scheduler's writes are
fenced by its lease (``api.store.fence``).
Queries stay cheap with 10,000+ trials per job: per-job indexes, ``COUNT(*)`` for counts, and
pages instead of whole tables.

Modules: ``records`` (the values handed out), ``trials`` (the trial store), ``jobs`` (the job
repository), ``leases`` (its claims and renewals), ``fence`` (the one job-row write and its
lease check), ``queries`` (its reads: pages, best, Pareto, progress), ``trajectory``,
``warm_start``, and ``rows`` (what they share: JSON, rows to values). What ``api/store.py``
exported before the split stays importable here: the job states' transitions (now in
``api.states``) and, resolved on first use so that the store itself never imports the HTTP
layer, the bodies ``JobRecord``, ``TrialLog`` and ``TrialSummary`` (now in ``api.schemas``).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from api.states import JOB_TRANSITIONS, TERMINAL_JOB_STATES, JobState
from api.store.fence import LeaseLost
from api.store.jobs import MAX_EXTENSION, JobRepository
from api.store.leases import LeaseState
from api.store.queries import SORT_COLUMNS
from api.store.records import JobCounts, ListedTrial, StoredJob, StoredLog, StrideHistory
from api.store.rows import CANCELLED, Factory, JobList, ReportList, TrialList, insert_trials
from api.store.trials import SqlTrialStore

JobStateName = JobState
"""What ``api.store`` called a job's state before ``api.states.JobState`` (69937c6)."""

_MOVED = {
    "JobRecord": "api.schemas.jobs",
    "TrialLog": "api.schemas.trials",
    "TrialSummary": "api.schemas.trials",
}
"""HTTP bodies once exported here, and where they live now."""


def _moved(name: str) -> object:
    """A body of ``_MOVED``, from ``api.schemas`` (imported when one is first asked for)."""
    if name not in _MOVED:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_MOVED[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


if not TYPE_CHECKING:  # hidden from mypy: a misspelt name imported from here stays an error
    __getattr__ = _moved


__all__ = [
    "CANCELLED",
    "JOB_TRANSITIONS",
    "MAX_EXTENSION",
    "SORT_COLUMNS",
    "TERMINAL_JOB_STATES",
    "Factory",
    "JobCounts",
    "JobList",
    "JobRecord",
    "JobRepository",
    "JobStateName",
    "LeaseLost",
    "LeaseState",
    "ListedTrial",
    "ReportList",
    "SqlTrialStore",
    "StoredJob",
    "StoredLog",
    "StrideHistory",
    "TrialList",
    "TrialLog",
    "TrialSummary",
    "insert_trials",
]
