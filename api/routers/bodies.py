"""Answers built from trusted values: serialized once, as they are."""

from __future__ import annotations

from fastapi import Response
from pydantic import BaseModel


def json_body(model: BaseModel) -> Response:
    """``model`` as a JSON response. A route returning a model has FastAPI validate it again
    against its ``response_model`` before serializing it: a model the server built itself
    (from its own columns) needs neither; the route keeps ``response_model`` for its docs."""
    return Response(model.model_dump_json(), media_type="application/json")
