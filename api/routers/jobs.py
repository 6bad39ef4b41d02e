"""Jobs and their trials: submit, list, inspect, rank, cancel, delete."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Response

from api.artifacts import Artifacts
from api.deps import Services, ServicesDep, require_read, require_write
from api.routers.bodies import json_body
from api.schemas import (
    MAX_PAGE,
    READ_ERRORS,
    WRITE_ERRORS,
    BestOut,
    ExtendIn,
    Id,
    JobOut,
    JobProgress,
    Offset,
    Page,
    TrialDetail,
    TrialLog,
    TrialOut,
    TrialSummary,
    errors,
    mapping,
)
from api.states import JobState
from api.store import StoredJob
from nas.data import names as dataset_names
from nas.errors import NasError
from nas.job import JobSpec
from workers.jobs.store import StoredTrial, TrialState

router = APIRouter(prefix="/api/v1/jobs", tags=["jobs"], responses=READ_ERRORS)
SORT_KEYS = Literal[
    "accuracy", "n_params", "macs", "cost_flops", "wall_seconds", "number", "id", "created_at"
]


def job_out(job: StoredJob, svc: Services) -> JobOut:
    return mapping.job_out(job, f"{svc.settings.base_url()}/api/v1/jobs/{job.id}/trials")


def check_dataset(spec: JobSpec, svc: Services) -> None:
    """A registered name, or a path below the configured data root."""
    name = spec.dataset.name
    if name in dataset_names():
        return
    root = svc.settings.data_root
    if root is None:
        raise NasError(
            f"unknown dataset {name!r}; known: {', '.join(dataset_names())} "
            "(paths need NAS_DATA_ROOT on the server)",
            field="dataset.name",
        )
    path = (root / name).resolve()
    if not path.is_relative_to(root.resolve()):
        raise NasError("dataset paths must stay inside the data root", field="dataset.name")
    if not Path(path).exists():
        raise NasError(f"no dataset at {name!r} under the data root", field="dataset.name")


def check_gpus(spec: JobSpec, svc: Services) -> None:
    """GPUs per trial need Ray (whose trials wait for a node that has them) or a CUDA device
    here: the local and inline executors train on this machine, and never on its CPU instead."""
    gpus = spec.resources.gpus_per_trial
    if not gpus or svc.settings.executor == "ray":
        return
    import torch  # the server's trial workers import it anyway

    if torch.cuda.is_available():
        return
    raise NasError(
        f"{gpus:g} GPU per trial asked, but this server's trials run on this machine "
        f"(executor {svc.settings.executor!r}) and it has no CUDA device: leave "
        "gpus_per_trial out, or submit to a server with the ray executor and GPU nodes",
        field="resources.gpus_per_trial",
    )


@router.post(
    "",
    status_code=201,
    response_model=JobOut,
    dependencies=[Depends(require_write)],
    responses=errors(400, 413),
)
def submit_job(spec: JobSpec, svc: ServicesDep) -> JobOut:
    """Store a validated job (state ``queued``); the scheduler picks it up."""
    check_dataset(spec, svc)
    check_gpus(spec, svc)
    job = svc.repo.create(spec)
    if svc.scheduler is not None:
        svc.scheduler.notify()
    return job_out(job, svc)


@router.get("", response_model=Page[JobOut], dependencies=[Depends(require_read)])
def list_jobs(
    svc: ServicesDep,
    state: JobState | None = None,
    offset: Offset = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
) -> Page[JobOut]:
    jobs, total = svc.repo.list(state, offset, limit)
    return Page(items=[job_out(j, svc) for j in jobs], total=total, offset=offset, limit=limit)


@router.get("/{job_id}", response_model=JobOut, dependencies=[Depends(require_read)])
def get_job(job_id: Id, svc: ServicesDep) -> Response:
    return json_body(job_out(svc.repo.get(job_id), svc))


@router.get("/{job_id}/progress", response_model=JobProgress, dependencies=[Depends(require_read)])
def job_progress(job_id: Id, svc: ServicesDep) -> JobProgress:
    """Trial counts per state and strategy, and each strategy's budget use (as stored with the
    job: the same from every server, kept once the job ended)."""
    return mapping.job_progress(svc.repo.progress(job_id))


@router.get("/{job_id}/trials", response_model=Page[TrialOut], dependencies=[Depends(require_read)])
def list_trials(
    svc: ServicesDep,
    job_id: Id,
    strategy: Annotated[str | None, Query(max_length=64)] = None,
    state: TrialState | None = None,
    sort: SORT_KEYS = "accuracy",
    order: Literal["asc", "desc"] = "desc",
    offset: Offset = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
    ranked: Annotated[
        bool,
        Query(
            description="only the ranked trials: search trials completed with an accuracy (no "
            "confirmation runs, skipped proposals, pruned, failed or unfinished trials), the "
            "rule the leaderboard page ranks by"
        ),
    ] = False,
) -> Response:
    trials, total = svc.repo.summaries_page(  # 404 for unknown jobs
        job_id,
        strategy=strategy,
        state=state,
        sort=sort,
        descending=order == "desc",
        offset=offset,
        limit=limit,
        ranked=ranked,
    )
    items = [mapping.trial_summary(t) for t in trials]
    return json_body(
        Page[TrialSummary].model_construct(items=items, total=total, offset=offset, limit=limit)
    )


@router.get(
    "/{job_id}/trials/{trial_id}",
    response_model=TrialDetail,
    dependencies=[Depends(require_read)],
)
def get_trial(job_id: Id, trial_id: Id, svc: ServicesDep) -> TrialDetail:
    """One trial: its row (as in the listing), the node it ran on, its device and epochs."""
    svc.repo.require(job_id)  # 404 for unknown jobs
    return TrialDetail.of(svc.repo.trial_store(job_id).get(trial_id))


@router.get(
    "/{job_id}/trials/{trial_id}/log",
    response_model=TrialLog,
    dependencies=[Depends(require_read)],
)
def trial_log(job_id: Id, trial_id: Id, svc: ServicesDep) -> TrialLog:
    """Why a trial failed: the reason in full, and the tail of its worker's stderr with the
    traceback (at most 64 kB; kept for trials that failed)."""
    return mapping.trial_log(svc.repo.trial_log(job_id, trial_id))


@router.get("/{job_id}/best", response_model=BestOut, dependencies=[Depends(require_read)])
def best(
    svc: ServicesDep,
    job_id: Id,
    objective: Literal["accuracy", "pareto"] | None = None,
) -> BestOut:
    """The most accurate finished trial; with two objectives also the Pareto set."""
    job = svc.repo.get(job_id)
    top = svc.repo.best_trial(job_id)
    secondary = job.spec.objectives.secondary
    want_pareto = objective == "pareto" or (objective is None and secondary is not None)
    front: list[StoredTrial] = []
    if want_pareto:
        front = svc.repo.pareto(job_id, "n_params" if secondary == "params" else "macs")
    return BestOut(
        objective="pareto" if want_pareto else "accuracy",
        best=TrialOut.of(top) if top is not None else None,
        pareto=[TrialOut.of(t) for t in front],
        confirmation=(
            svc.repo.confirmation(job_id, top, job.spec.confirm_seeds) if top is not None else None
        ),
    )


@router.post(
    "/{job_id}/cancel",
    response_model=JobOut,
    dependencies=[Depends(require_write)],
    responses=WRITE_ERRORS,
)
def cancel_job(job_id: Id, svc: ServicesDep) -> JobOut:
    """Stop a queued or running job (409 when it already ended): its unfinished trials fail
    ("cancelled") at once; the server running it (any server) kills their workers."""
    job = svc.repo.cancel(job_id)
    if svc.scheduler is not None:
        svc.scheduler.cancel(job_id)
    return job_out(job, svc)


@router.post(
    "/{job_id}/extend",
    response_model=JobOut,
    dependencies=[Depends(require_write)],
    responses={**WRITE_ERRORS, **errors(400, 413)},  # a body that is not UTF-8 JSON: 400
)
def extend_job(job_id: Id, more: ExtendIn, svc: ServicesDep) -> JobOut:
    """Give a job more budget. A completed, failed or cancelled job continues (it is queued
    again; the trials a cancel stopped run again; its strategies replay what they ran); a
    queued or running one gets the bigger budget where it runs."""
    job = svc.repo.extend(job_id, more.budget, more.max_trials_per_strategy)
    if svc.scheduler is not None:
        svc.scheduler.notify()
    return job_out(job, svc)


@router.delete(
    "/{job_id}",
    status_code=204,
    response_class=Response,
    dependencies=[Depends(require_write)],
    responses=WRITE_ERRORS,
)
def delete_job(job_id: Id, svc: ServicesDep) -> Response:
    """Delete a job, its trials and its saved weights (409 while it runs: cancel it first)."""
    svc.repo.delete(job_id)
    Artifacts(svc.settings.artifact_dir).remove_job(job_id)
    return Response(status_code=204)
