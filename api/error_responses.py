"""The one place where errors become HTTP responses.

Bodies: ``{"detail": [{"field": "strategies[0].name", "message": "..."}]}`` for 422 and
``{"detail": "..."}`` otherwise (``api.schemas.ValidationErrorOut`` / ``ErrorOut``, documented
on every route). Nothing a client sends produces a 500; a database that cannot be reached is a
503 with ``Retry-After``, and the transaction that met it changed nothing.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from api.db.session import database_unreachable
from nas.errors import ConflictError, NasError, NotFoundError

log = logging.getLogger("nas.api")
RETRY_AFTER_SECONDS = 5


HTTP_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def allowed_methods(request: Request) -> list[str]:
    """Every method some route fully serves at this path (Starlette names only one route's)."""
    routes = request.app.router.routes
    return [
        method
        for method in HTTP_METHODS
        if any(r.matches({**request.scope, "method": method})[0] == Match.FULL for r in routes)
    ]


def status_of(error: NasError) -> int:
    if isinstance(error, NotFoundError) and error.field in {"job_id", "trial_id"}:
        return 404
    if isinstance(error, ConflictError):
        return 409
    return 422


def field_of(loc: tuple[Any, ...], message: str) -> tuple[str, str]:
    """Dotted field path from a pydantic location; model-level checks name it in the message."""
    parts = [p for p in loc if p not in ("body", "query", "path")]
    field = ""
    for part in parts:
        field += f"[{part}]" if isinstance(part, int) else (f".{part}" if field else str(part))
    message = message.removeprefix("Value error, ")
    head, sep, rest = message.partition(": ")
    if sep and (not field or head.startswith(field)) and " " not in head:
        return head, rest
    return field or "body", message


def is_page(request: Request) -> bool:
    """Whether the request went to an HTML page (its errors are pages too)."""
    from api.routers.pages import PAGE_TAG

    route = request.scope.get("route")
    return PAGE_TAG in (getattr(route, "tags", None) or [])


def respond(
    request: Request, status: int, detail: Any, headers: dict[str, str] | None = None
) -> Response:
    """``{"detail": ...}`` as JSON, or as an HTML page for the pages."""
    if is_page(request):
        from api.routers.pages import error_page

        if isinstance(detail, list):
            messages = [f"{d['field']}: {d['message']}" for d in detail]
        else:
            messages = [str(detail)]
        return error_page(request, status, messages, headers)
    return JSONResponse({"detail": detail}, status_code=status, headers=headers)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        detail = []
        for error in exc.errors():
            field, message = field_of(tuple(error.get("loc", ())), str(error.get("msg", "")))
            detail.append({"field": field, "message": message})
        return respond(request, 422, detail)

    @app.exception_handler(NasError)
    async def _nas(request: Request, exc: NasError) -> Response:
        status = status_of(exc)
        if status == 422:
            body: Any = [{"field": exc.field or "body", "message": exc.message}]
        else:
            body = exc.message
        return respond(request, status, body)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            headers["Allow"] = ", ".join(allowed_methods(request))
        return respond(request, exc.status_code, exc.detail, headers)

    async def _database(request: Request, exc: Exception) -> Response:
        if not database_unreachable(exc):
            return await _unexpected(request, exc)
        log.warning("database unreachable: %s", type(exc.__cause__ or exc).__name__)
        return respond(
            request,
            503,
            "the database is unreachable for now: retry later",
            {"Retry-After": str(RETRY_AFTER_SECONDS)},
        )

    # Handled here, not by the catch-all below: that one re-raises into the server's log.
    for kind in (DBAPIError, PoolTimeoutError):
        app.add_exception_handler(kind, _database)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error", exc_info=exc)
        return respond(request, 500, "internal error (logged on the server)")
