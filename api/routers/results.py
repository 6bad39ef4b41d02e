"""Results to take home (a job's trials as CSV or JSON), compute to target, and several jobs
side by side."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response
from fastapi.responses import StreamingResponse

from api.board_cache import Leaderboards
from api.deps import Services, ServicesDep, require_read
from api.live_targets import Comparison
from api.result_tables import compare, csv_text, job_rows, json_text, parse_job_ids
from api.routers.leaderboard import leaderboards
from api.schemas import READ_ERRORS, CompareOut, Id, TrialRow

router = APIRouter(prefix="/api/v1", tags=["results"], responses=READ_ERRORS)
JOB_IDS_HELP = "ids of 2 to 8 jobs on the same dataset: jobs=1,2 or jobs=1&jobs=2"


def _export(svc: Services, job_id: int, media: str) -> StreamingResponse:
    job = svc.repo.get(job_id)  # 404 before anything streams
    batches = job_rows(svc.repo, job.id, job.name, job.spec.run_keys())
    suffix = "csv" if media == "csv" else "json"
    chunks = csv_text(batches) if media == "csv" else json_text(batches)
    return StreamingResponse(
        (c.encode() for c in chunks),
        media_type="text/csv; charset=utf-8" if media == "csv" else "application/json",
        headers={
            "Content-Disposition": f'attachment; filename="job-{job.id}-trials.{suffix}"',
            "Cache-Control": "no-store",
        },
    )


@router.get(
    "/jobs/{job_id}/trials.csv",
    response_class=StreamingResponse,
    dependencies=[Depends(require_read)],
    responses={
        200: {
            "content": {"text/csv": {"schema": {"type": "string"}}},
            "description": "a header row, then one row per trial",
        }
    },
)
def trials_csv(job_id: Id, svc: ServicesDep) -> StreamingResponse:
    """Every trial of the job as CSV, one flat row each (the columns of ``trials.json``), for
    a spreadsheet: text that would start a formula (``=``, ``+``, ``-``, ``@``, tab, CR) gets a
    leading ``'``."""
    return _export(svc, job_id, "csv")


@router.get(
    "/jobs/{job_id}/trials.json",
    response_model=list[TrialRow],
    dependencies=[Depends(require_read)],
)
def trials_json(job_id: Id, svc: ServicesDep) -> Response:
    """Every trial of the job as a JSON array of flat rows, by id."""
    return _export(svc, job_id, "json")


@router.get(
    "/jobs/{job_id}/comparison",
    response_model=Comparison,
    dependencies=[Depends(require_read)],
)
def comparison(job_id: Id, boards: Annotated[Leaderboards, Depends(leaderboards)]) -> Comparison:
    """Compute to target per strategy: the compute each was charged until its first trial
    reached the job's best validation accuracy minus max(0.5 points, 2 standard errors), and
    the area under its best-so-far curve; a strategy's repeats grouped (median, IQR)."""
    return boards.comparison(job_id)


@router.get("/compare", response_model=CompareOut, dependencies=[Depends(require_read)])
def compare_jobs(
    jobs: Annotated[list[str], Query(description=JOB_IDS_HELP)],
    boards: Annotated[Leaderboards, Depends(leaderboards)],
) -> CompareOut:
    """Several jobs on the same dataset side by side: each job's strategies' best-so-far
    against compute and their compute to one target (the best any of them reached, minus the
    margin). 404 for an unknown job, 422 (``jobs``) for jobs on different data."""
    return compare([boards.snapshot(i) for i in parse_job_ids(jobs)])
