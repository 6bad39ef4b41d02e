"""What every endpoint shares: error bodies and their OpenAPI entries, pages, bounded ids."""

from __future__ import annotations

from typing import Annotated, Any, Generic, TypeVar

from fastapi import Path, Query
from pydantic import BaseModel, Field

T = TypeVar("T")
MAX_PAGE = 200
MAX_ID = 2**31 - 1
"""Ids are ``Integer`` columns (32 bits on PostgreSQL): a larger one is a 422, not a 500."""
Id = Annotated[int, Path(ge=0, le=MAX_ID)]
Offset = Annotated[int, Query(ge=0, le=MAX_ID)]


class ErrorOut(BaseModel):
    """Every error but a validation error: ``{"detail": "what went wrong"}``."""

    detail: str


class FieldError(BaseModel):
    field: str = Field(description="dotted path of the bad field, e.g. strategies[0].name")
    message: str


class ValidationErrorOut(BaseModel):
    """A 422: each bad field named."""

    detail: list[FieldError]


_ERROR_TEXT = {
    400: "the body could not be read (not UTF-8 JSON)",
    401: "an API key is needed: send 'Authorization: Bearer <key>'",
    403: "the API key is not recognised",
    404: "no such job or trial",
    409: "not allowed in the job's current state",
    413: "the request body is too large",
    503: "the database is unreachable for now: retry later",
}


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for these error codes (422 is always there)."""
    found: dict[int | str, dict[str, Any]] = {
        422: {"model": ValidationErrorOut, "description": "a field is invalid (each is named)"}
    }
    for code in codes:
        found[code] = {"model": ErrorOut, "description": _ERROR_TEXT[code]}
    return found


READ_ERRORS = errors(401, 403, 404, 503)
WRITE_ERRORS = errors(401, 403, 404, 409, 503)


class Page(BaseModel, Generic[T]):
    """A bounded slice of a list endpoint."""

    items: list[T]
    total: int
    offset: int
    limit: int


class Health(BaseModel):
    status: str
    database: str
    scheduler: str
    executor: str
    auth: bool
