"""The FastAPI application: ``create_app(settings)``."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

import nas
from api.artifacts import Artifacts
from api.auth import KeyChecker
from api.board_cache import Leaderboards
from api.db.session import make_engine, session_factory
from api.deps import Services
from api.error_responses import install_error_handlers
from api.executors import executor_factory
from api.keys import KeyRepository
from api.limits import BodySizeLimit
from api.routers import export, health, jobs, leaderboard, pages, results, verdict
from api.scheduler import Scheduler
from api.settings import Settings
from api.store import JobRepository

log = logging.getLogger("nas.api")


def create_app(settings: Settings | None = None, *, scheduler: bool | None = None) -> FastAPI:
    """The app over ``settings.database_url`` (migrated already: see ``nas serve``)."""
    settings = settings or Settings()
    engine = make_engine(settings.database_url)
    repo = JobRepository(session_factory(engine))
    run_scheduler = settings.scheduler if scheduler is None else scheduler
    sched = (
        Scheduler(
            repo,
            executor_factory(settings),
            max_attempts=settings.max_attempts,
            max_takeovers=settings.max_takeovers,
            artifacts=Artifacts(settings.artifact_dir),
            lease_seconds=settings.lease_seconds,
            max_jobs=settings.max_concurrent_jobs,
        )
        if run_scheduler
        else None
    )
    keys = KeyChecker(settings, KeyRepository(repo.factory))
    services = Services(settings=settings, repo=repo, keys=keys, scheduler=sched)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if sched is not None:
            sched.start()
        try:
            yield
        finally:
            if sched is not None:
                sched.stop()
            engine.dispose()

    app = FastAPI(
        title="stride-nas",
        version=nas.__version__,
        description="Compare fixed-stride search, DiffStride and compound scaling at equal "
        "compute.",
        lifespan=lifespan,
    )
    app.state.services = services
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_request_bytes)
    install_error_handlers(app)
    app.include_router(health.router)
    app.include_router(jobs.router)
    app.include_router(export.router)
    app.state.leaderboards = Leaderboards(repo.factory)
    app.include_router(leaderboard.router)
    app.include_router(results.router)
    app.include_router(verdict.router)
    app.include_router(pages.router)
    app.mount("/static", pages.static_files(), name="static")
    return app
