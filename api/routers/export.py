"""Export a trained trial: architecture, weights, ``torch.export`` program and record, zipped."""

from __future__ import annotations

import shutil
import tempfile
import zipfile
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query
from fastapi.responses import FileResponse
from starlette.background import BackgroundTask

from api.artifacts import Artifacts
from api.board_cache import Leaderboards
from api.deps import Services, ServicesDep, require_read
from api.routers.leaderboard import leaderboards
from api.routers.verdict import job_verdict
from api.schemas import MAX_ID, READ_ERRORS, Id
from api.store import StoredJob
from nas import export
from workers.jobs.store import StoredTrial

router = APIRouter(prefix="/api/v1/jobs", tags=["export"], responses=READ_ERRORS)
ATTEMPTS = 3  # the best may change (and its weights go) while we package it: look again


def _pick(svc: Services, job: StoredJob, trial_id: int | None) -> StoredTrial:
    """The trial to export: ``trial_id``, or the best (most accurate completed) of the job."""
    if trial_id is not None:
        return svc.repo.trial_store(job.id).get(trial_id)  # 404 when not in this job
    top = svc.repo.best_trial(job.id)
    if top is None:
        raise HTTPException(404, f"job {job.id} has no completed trial yet ({job.state})")
    return top


def _saved_dir(svc: Services, job: StoredJob, trial: StoredTrial) -> Path:
    """The trial's saved model directory; 404 saying why when there is none."""
    name = f"trial {trial.id} ({trial.strategy} #{trial.number})"
    if trial.result is None:
        raise HTTPException(404, f"{name} has no result ({trial.state}): nothing to export")
    if trial.result.artifact is None and trial.result.artifact_error is not None:
        raise HTTPException(
            404, f"the weights of {name} could not be saved: {trial.result.artifact_error}"
        )
    if trial.result.artifact is None:
        raise HTTPException(
            404,
            f"{name} has no saved weights: job {job.id} keeps {job.spec.keep_weights!r} "
            "(submit with keep_weights 'best' or 'all' to export)",
        )
    path = Path(trial.result.artifact)
    if not path.resolve().is_relative_to(Artifacts(svc.settings.artifact_dir).root):
        raise HTTPException(404, f"the weights of {name} are outside this server's artifact dir")
    if not (path / export.WEIGHTS).is_file():
        why = (
            "superseded by a better trial (keep_weights 'best')"
            if job.spec.keep_weights == "best"
            else "deleted"
        )
        raise HTTPException(404, f"the weights of {name} are gone: {why}")
    return path


def record_of(job: StoredJob, trial: StoredTrial) -> dict[str, Any]:
    """How the trial was found: job, strategy, trial, data, budget, training, metrics."""
    result = trial.result
    metrics = (
        result.model_dump(mode="json", exclude={"history", "artifact"})
        if result is not None
        else {}
    )
    return {
        "job": {"id": job.id, "name": job.name, "state": job.state},
        "trial": {
            "id": trial.id,
            "strategy": trial.strategy,
            "number": trial.number,
            "state": trial.state,
            "params": trial.request.params,
            "spec": trial.request.spec.to_string(),
        },
        "data": job.spec.dataset.model_dump(mode="json"),
        "budget": job.spec.budget.model_dump(mode="json"),
        "objectives": job.spec.objectives.model_dump(mode="json"),
        "train": {
            "epochs": trial.request.epochs,
            "options": trial.request.options.model_dump(mode="json"),
        },
        "metrics": metrics,
        "history": [r.model_dump(mode="json") for r in result.history] if result else [],
    }


def _zip(folder: Path, archive: Path) -> None:
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as out:
        for file in sorted(folder.iterdir()):
            out.write(file, arcname=file.name)


@router.get(
    "/{job_id}/best/export",
    dependencies=[Depends(require_read)],
    response_class=FileResponse,
    responses={
        200: {"content": {"application/zip": {}}, "description": "the export directory, zipped"},
        404: {"description": "no such job or trial, or no saved weights (the reason says why)"},
    },
)
def export_best(
    job_id: Id,
    svc: ServicesDep,
    boards: Annotated[Leaderboards, Depends(leaderboards)],
    trial: Annotated[
        int | None, Query(ge=1, le=MAX_ID, description="export this trial, not the best")
    ] = None,
) -> FileResponse:
    """A zip of the best trial's export directory (``nas.export``): ``arch.json``,
    ``weights.safetensors``, ``probe.safetensors``, ``program.pt2`` when the model exports
    with ``torch.export`` and ``record.json`` (how it was found, and the job's verdict). Rebuild
    it with ``nas.export.load(dir)``."""
    job = svc.repo.get(job_id)
    # the job's verdict goes into the record (GET /api/v1/jobs/{id}/verdict)
    verdict = job_verdict(boards.snapshot(job.id)).model_dump(mode="json")
    work = Path(tempfile.mkdtemp(prefix="nas-export-"))
    try:
        for attempt in range(ATTEMPTS):
            chosen = _pick(svc, job, trial)
            saved = _saved_dir(svc, job, chosen)
            try:
                record = {**record_of(job, chosen), "verdict": verdict}
                export.package(saved, work / "export", record)
                break
            except (export.ExportError, OSError) as exc:
                # Gone meanwhile: a better trial finished and this one was pruned; look again.
                if (saved / export.WEIGHTS).is_file() or attempt == ATTEMPTS - 1:
                    raise HTTPException(500, f"cannot export trial {chosen.id}: {exc}") from None
        archive = work / f"job-{job.id}-trial-{chosen.id}.zip"
        _zip(work / "export", archive)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return FileResponse(
        archive,
        media_type="application/zip",
        filename=archive.name,
        background=BackgroundTask(shutil.rmtree, work, ignore_errors=True),
    )
