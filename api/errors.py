"""The one place where errors become HTTP responses.

Bodies: ``{"detail": [{"field": "strategies[0].name", "message": "..."}]}`` for 422 and
``{"detail": "..."}`` otherwise. Nothing a client sends produces a 500.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from nas.errors import ConflictError, NasError, NotFoundError

log = logging.getLogger("nas.api")


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


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        detail = []
        for error in exc.errors():
            field, message = field_of(tuple(error.get("loc", ())), str(error.get("msg", "")))
            detail.append({"field": field, "message": message})
        return JSONResponse({"detail": detail}, status_code=422)

    @app.exception_handler(NasError)
    async def _nas(_: Request, exc: NasError) -> JSONResponse:
        status = status_of(exc)
        if status == 422:
            body: Any = [{"field": exc.field or "body", "message": exc.message}]
        else:
            body = exc.message
        return JSONResponse({"detail": body}, status_code=status)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse(
            {"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers
        )

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error")
        return JSONResponse({"detail": "internal error (logged on the server)"}, status_code=500)
