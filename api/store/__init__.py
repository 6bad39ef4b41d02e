"""The service's storage API: jobs (``JobRepository``) and their trials (``SqlTrialStore``).

``SqlTrialStore`` implements ``workers.store.TrialStore`` over the database, so the runner drives
a server job exactly as it drives an embedded one. Both hand out plain values (``JobRecord``,
``StoredTrial``, ``EpochReport``), never ORM objects, and every method is one short transaction.

Every change to a job or any of its trials bumps the job's ``version`` (for incremental clients);
a changed trial is stamped with that version (``trial.version``).
Queries stay cheap with 10,000+ trials per job: per-job indexes, ``COUNT(*)`` for counts, and
pages instead of whole tables.

Modules: ``trials`` (the trial store), ``jobs`` (the job repository), ``leases`` (its claims and
renewals), ``fence`` (the one job-row write and its lease check), ``queries`` (its reads: pages,
best, Pareto, progress), ``warm_start``, and ``rows`` (what they share: JSON, rows to values).
What ``api/store.py`` exported before the split stays importable here: the job and trial bodies
(now in ``api.schemas``) and the job states' transitions (now in ``api.states``) too.
"""

from api.schemas.jobs import JobRecord
from api.schemas.trials import TrialLog, TrialSummary
from api.states import JOB_TRANSITIONS, TERMINAL_JOB_STATES, JobState
from api.store.fence import LeaseLost
from api.store.jobs import MAX_EXTENSION, JobRepository
from api.store.leases import LeaseState
from api.store.queries import SORT_COLUMNS
from api.store.rows import CANCELLED, Factory, JobList, ReportList, TrialList, insert_trials
from api.store.trials import SqlTrialStore

JobStateName = JobState
"""What ``api.store`` called a job's state before ``api.states.JobState`` (69937c6)."""

__all__ = [
    "CANCELLED",
    "JOB_TRANSITIONS",
    "MAX_EXTENSION",
    "SORT_COLUMNS",
    "TERMINAL_JOB_STATES",
    "Factory",
    "JobList",
    "JobRecord",
    "JobRepository",
    "JobStateName",
    "LeaseLost",
    "LeaseState",
    "ReportList",
    "SqlTrialStore",
    "TrialList",
    "TrialLog",
    "TrialSummary",
    "insert_trials",
]
