"""The HTTP API's request and response bodies, in one package (requests are mostly
``nas.job.JobSpec``): ``common`` (errors, pages, ids), ``jobs``, ``trials``, ``leaderboard``
and ``results`` (exports, ``/compare``). ``mapping`` turns the store's records into these
bodies (import it by name: it needs the store, the bodies do not)."""

from api.schemas.common import (
    MAX_ID,
    MAX_PAGE,
    READ_ERRORS,
    WRITE_ERRORS,
    ErrorOut,
    FieldError,
    Health,
    Id,
    Offset,
    Page,
    ValidationErrorOut,
    errors,
)
from api.schemas.jobs import BestOut, ExtendIn, JobOut, JobProgress, JobRecord
from api.schemas.leaderboard import (
    MAX_ERROR_CHARS,
    Cursor,
    Curve,
    Front,
    JobSummary,
    LeaderboardOut,
    Progress,
    StrideTrajectory,
    TrialColumns,
)
from api.schemas.results import CompareJob, CompareOut, CompareSeries, TrialRow
from api.schemas.trials import TrialDetail, TrialLog, TrialOut, TrialSummary

__all__ = [
    "MAX_ERROR_CHARS",
    "MAX_ID",
    "MAX_PAGE",
    "READ_ERRORS",
    "WRITE_ERRORS",
    "BestOut",
    "CompareJob",
    "CompareOut",
    "CompareSeries",
    "Cursor",
    "Curve",
    "ErrorOut",
    "ExtendIn",
    "FieldError",
    "Front",
    "Health",
    "Id",
    "JobOut",
    "JobProgress",
    "JobRecord",
    "JobSummary",
    "LeaderboardOut",
    "Offset",
    "Page",
    "Progress",
    "StrideTrajectory",
    "TrialColumns",
    "TrialDetail",
    "TrialLog",
    "TrialOut",
    "TrialRow",
    "TrialSummary",
    "ValidationErrorOut",
    "errors",
]
