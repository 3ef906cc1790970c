"""The OpenAPI document, made to tell the truth about errors.

FastAPI declares a 422 that we never send (validation errors are 400s) and none of the
errors we do send. Here every operation gets the one error envelope for each status it can
answer: those that follow from its shape (400 for parameters or a body; 408 and 413 for a
body; 401 for credentials; 403 for a cookie session's CSRF check on unsafe methods; 500; 503
when the database is away) and those its route declares with `errors(...)` (403 for a role,
404, 409, 429, ...).
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel, ConfigDict, Field

UNSAFE_METHODS = {"post", "put", "patch", "delete"}
# Operations that never touch the database (no 503 for them).
NO_DATABASE = {"healthz"}
ERROR_REF = {"$ref": "#/components/schemas/Error"}


class Error(BaseModel):
    """The one shape of every error, from every route."""

    model_config = ConfigDict(extra="allow")

    code: int = Field(description="the HTTP status, again")
    name: str = Field(description="what went wrong, in a few words")
    description: str = Field(description="what went wrong and what to do about it")
    fields: list[str] | None = Field(None, description="the input fields at fault (400)")


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a route: the error envelope for each of these statuses."""
    return {status: {"model": Error, "description": _phrase(status)} for status in statuses}


def binary(*media_types: str, description: str) -> dict[str, Any]:
    """A success response that is a file, not JSON, of one of these media types."""
    schema = {"schema": {"type": "string", "format": "binary"}}
    return {"description": description, "content": dict.fromkeys(media_types, schema)}


def _phrase(status: int) -> str:
    return HTTPStatus(status).phrase


def _statuses_from_shape(path: str, method: str, operation: dict[str, Any]) -> set[int]:
    statuses = {500}
    if operation.get("parameters") or operation.get("requestBody"):
        statuses.add(400)
    if operation.get("requestBody"):
        statuses |= {408, 413}
    if operation.get("security"):
        statuses.add(401)
        if method in UNSAFE_METHODS:
            statuses.add(403)  # a cookie session without the page's CSRF header
    if operation.get("operationId") not in NO_DATABASE:
        statuses.add(503)
    return statuses


def truthful_openapi(app: FastAPI) -> dict[str, Any]:
    if app.openapi_schema:
        return app.openapi_schema
    document = get_openapi(
        title=app.title,
        version=app.version,
        description=app.description,
        routes=app.routes,
    )
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    schemas.setdefault("Error", Error.model_json_schema())
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)  # FastAPI's 422 shape: we answer 400 in ours
    for path, operations in document.get("paths", {}).items():
        for method, operation in operations.items():
            responses = operation.setdefault("responses", {})
            if _is_fastapi_validation(responses.get("422")):
                responses.pop("422")  # a 422 a route declares itself stays
            for status in _statuses_from_shape(path, method, operation):
                responses.setdefault(
                    str(status),
                    {
                        "description": _phrase(status),
                        "content": {"application/json": {"schema": ERROR_REF}},
                    },
                )
    app.openapi_schema = document
    return document


def _is_fastapi_validation(response: dict[str, Any] | None) -> bool:
    schema = (response or {}).get("content", {}).get("application/json", {}).get("schema", {})
    return str(schema.get("$ref", "")).endswith("/HTTPValidationError")


def install_openapi(app: FastAPI) -> None:
    app.openapi = lambda: truthful_openapi(app)  # type: ignore[method-assign]
