"""Objects the routers share, kept on ``app.state`` by ``create_app``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool

from api.auth import KeyChecker
from api.scheduler import Scheduler
from api.settings import Settings
from api.store import JobRepository


@dataclass
class Services:
    settings: Settings
    repo: JobRepository
    keys: KeyChecker
    scheduler: Scheduler | None


# The dependencies are async: FastAPI runs a plain ``def`` dependency in its threadpool, a trip
# (and a turn at the GIL among the pool's threads) that every request would pay for a lookup.


async def services(request: Request) -> Services:
    found: Services = request.app.state.services
    return found


async def require_write(request: Request) -> None:
    keys = request.app.state.services.keys
    await run_in_threadpool(keys.check, request, write=True)  # may read the stored keys


async def require_read(request: Request) -> None:
    keys: KeyChecker = request.app.state.services.keys
    if keys.reads_require_key:  # else nothing to check: no thread needed
        await run_in_threadpool(keys.check, request, write=False)


ServicesDep = Annotated[Services, Depends(services)]
