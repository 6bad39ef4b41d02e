"""Liveness and readiness."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from api.deps import ServicesDep
from api.schemas import Health

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Health, responses={503: {"model": Health}})
def healthz(svc: ServicesDep) -> JSONResponse:
    """200 when the database answers; 503 (with the same body) when it does not. ``status`` is
    ``degraded`` while the database is down or the scheduler waits for it or for Ray."""
    database = "ok"
    try:
        svc.repo.list(None, 0, 1)
    except Exception as exc:
        database = f"unreachable: {type(exc).__name__}"
    scheduler = "off"
    if svc.scheduler is not None:
        scheduler = "running" if svc.scheduler.running else "stopped"
        if svc.scheduler.running and svc.scheduler.waiting_for_database:
            scheduler = "waiting for the database"
        elif svc.scheduler.running and svc.scheduler.executor_problem:
            scheduler = f"waiting for the executor: {svc.scheduler.executor_problem}"
    body = Health(
        status="ok" if database == "ok" and not scheduler.startswith("waiting") else "degraded",
        database=database,
        scheduler=scheduler,
        executor=svc.settings.executor,
        auth=svc.keys.enabled,
    )
    return JSONResponse(body.model_dump(), status_code=200 if database == "ok" else 503)
