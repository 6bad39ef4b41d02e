"""Objects the routers share, kept on ``app.state`` by ``create_app``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

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


def services(request: Request) -> Services:
    found: Services = request.app.state.services
    return found


def require_write(request: Request) -> None:
    services(request).keys.check(request, write=True)


def require_read(request: Request) -> None:
    services(request).keys.check(request, write=False)


ServicesDep = Annotated[Services, Depends(services)]
