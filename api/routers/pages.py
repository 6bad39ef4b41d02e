"""HTML pages: ``/`` lists the jobs, ``/jobs/{id}`` is one job's live leaderboard, ``/compare``
puts several jobs side by side.

Server-rendered with Jinja2 (autoescaped); the leaderboard's data comes from
``GET /api/v1/jobs/{id}/leaderboard`` (polled by ``static/leaderboard.js``), its charts from the
vendored uPlot (``static/vendor/``, see ``make vendor``), so the pages work offline.
"""

from __future__ import annotations

from http import HTTPStatus
from pathlib import Path
from typing import Annotated, Any

import jinja2
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

import nas
from api.board_cache import Leaderboards
from api.deps import ServicesDep, require_read
from api.result_tables import compare, parse_job_ids
from api.routers.leaderboard import leaderboards
from api.routers.results import JOB_IDS_HELP
from api.schemas import MAX_ID, READ_ERRORS, Id
from api.store import StoredJob
from nas.errors import NotFoundError
from workers.jobs.store import FINISHED_STATES, TrialState

PACKAGE = Path(__file__).resolve().parent.parent
TEMPLATES = PACKAGE / "templates"
STATIC = PACKAGE / "static"
UPLOT = "vendor/uplot-1.6.32"
JOBS_PER_PAGE = 50

templates = Jinja2Templates(
    env=jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True)
)
PAGE_TAG = "pages"
# Errors of the pages are pages too (api.error_responses renders them): documented as HTML.
_PAGE_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"description": str(doc["description"]), "content": {"text/html": {}}}
    for code, doc in READ_ERRORS.items()
}
FIRST_SCREEN = 500
"""The job page asks first for its best ranked trials only (``top``), then for every trial: a
job of 100,000 trials is drawn before its 10 MB of trials have arrived."""
router = APIRouter(tags=[PAGE_TAG], default_response_class=HTMLResponse, responses=_PAGE_ERRORS)


def error_page(
    request: Request, status: int, messages: list[str], headers: dict[str, str] | None = None
) -> HTMLResponse:
    """An error of a page, as a page (every value escaped)."""
    reason = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else ""
    return templates.TemplateResponse(
        request,
        "error.html",
        _context(request, status=status, reason=reason, messages=messages),
        status_code=status,
        headers=headers,
    )


def static_files() -> StaticFiles:
    """The pages' CSS, JavaScript and vendored libraries (mount at ``/static``)."""
    return StaticFiles(directory=STATIC)


def _context(request: Request, **values: Any) -> dict[str, Any]:
    root = request.scope.get("root_path", "").rstrip("/")
    static = f"{root}/static"
    return {"root": root, "static": static, "uplot": UPLOT, "v": nas.__version__, **values}


def job_row(job: StoredJob) -> dict[str, Any]:
    """What the jobs table shows of one job."""
    counts = job.trial_counts
    total = sum(counts.values())
    finished = sum(n for state, n in counts.items() if state in FINISHED_STATES)
    return {
        "id": job.id,
        "name": job.name,
        "state": job.state,
        "strategies": ", ".join(s.key for s in job.spec.strategies),
        "total": total,
        "finished": finished,
        "running": counts.get(TrialState.RUNNING, 0),
        "failed": counts.get(TrialState.FAILED, 0),
        "skipped": counts.get(TrialState.SKIPPED, 0),
        "percent": round(100 * finished / total) if total else 0,
        "created_at": job.created_at.strftime("%Y-%m-%d %H:%M UTC"),
    }


@router.get("/", response_class=HTMLResponse, dependencies=[Depends(require_read)])
def jobs_page(
    request: Request, svc: ServicesDep, offset: Annotated[int, Query(ge=0, le=MAX_ID)] = 0
) -> HTMLResponse:
    """Every job, newest first, with its state and trial progress (refreshed live)."""
    jobs, total = svc.repo.list(None, offset, JOBS_PER_PAGE)
    return templates.TemplateResponse(
        request,
        "jobs.html",
        _context(
            request,
            jobs=[job_row(j) for j in jobs],
            total=total,
            offset=offset,
            limit=JOBS_PER_PAGE,
        ),
    )


@router.get("/jobs/{job_id}", response_class=HTMLResponse, dependencies=[Depends(require_read)])
def job_page(request: Request, job_id: Id, svc: ServicesDep) -> HTMLResponse:
    """One job's leaderboard: trials table, best-so-far, Pareto front, learned strides."""
    try:
        job = svc.repo.get(job_id)
    except NotFoundError:
        return templates.TemplateResponse(
            request, "missing.html", _context(request, job_id=job_id), status_code=404
        )
    context = _context(request, job=job_row(job), first_screen=FIRST_SCREEN)
    return templates.TemplateResponse(request, "job.html", context)


@router.get("/compare", response_class=HTMLResponse, dependencies=[Depends(require_read)])
def compare_page(
    request: Request,
    jobs: Annotated[list[str], Query(description=JOB_IDS_HELP)],
    boards: Annotated[Leaderboards, Depends(leaderboards)],
) -> HTMLResponse:
    """Several jobs on the same dataset: best-so-far against compute per job and strategy, and
    their compute to one target (live). An unknown job: a 404 page; jobs on different data: a
    422 page saying what differs."""
    ids = parse_job_ids(jobs)
    snapshots = []
    for job_id in ids:
        try:
            snapshots.append(boards.snapshot(job_id))
        except NotFoundError:
            return templates.TemplateResponse(
                request, "missing.html", _context(request, job_id=job_id), status_code=404
            )
    found = compare(snapshots)  # the same data, else a 422 page
    joined = ",".join(str(i) for i in ids)
    return templates.TemplateResponse(
        request,
        "compare.html",
        _context(
            request,
            ids=joined,
            jobs=[{"id": s.id, "name": s.name, "state": s.state} for s in snapshots],
            dataset=found.dataset,
        ),
    )
