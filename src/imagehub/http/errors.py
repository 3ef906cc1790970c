"""Every error leaves the API in one shape: `{"code", "name", "description"}`."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from imagehub.core.db import DATABASE_UNAVAILABLE
from imagehub.core.errors import AppError
from imagehub.http.routing import allowed_methods

log = logging.getLogger(__name__)
DATABASE_RETRY_SECONDS = 5


def error_response(
    code: int,
    name: str,
    description: str,
    headers: Mapping[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    body = {"code": code, "name": name, "description": description, **extra}
    return JSONResponse(body, status_code=code, headers=headers)


def _field_of(location: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(part) for part in location]
    if len(parts) > 1 and parts[0] in ("body", "query", "path", "header", "cookie", "form"):
        parts = parts[1:]
    return ".".join(parts)


def _describe_validation(errors: list[dict[str, Any]]) -> str:
    messages = []
    for error in errors:
        field = _field_of(error.get("loc", ()))
        message = str(error.get("msg", "is invalid"))
        if error.get("type") == "json_invalid":
            field, message = "body", "is not valid JSON"
        messages.append(f"{field}: {message}" if field else message)
    return "; ".join(dict.fromkeys(messages))


async def _app_error(_: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, AppError)
    return JSONResponse(error.envelope(), status_code=error.status_code, headers=error.headers)


async def _validation_error(_: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    errors = list(error.errors())
    fields = sorted({_field_of(e.get("loc", ())) for e in errors} - {""})
    return error_response(400, "Invalid input", _describe_validation(errors), fields=fields)


async def _http_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, HTTPException)
    name = _phrase(error.status_code)
    if error.status_code == 404 and error.detail == "Not Found":
        description = f"No route {request.method} {request.url.path}"
    elif error.status_code == 405:
        description = f"{request.method} is not allowed on {request.url.path}"
        allow = ", ".join(allowed_methods(request.app, request.url.path))
        return error_response(405, name, description, headers={"Allow": allow})
    else:
        description = str(error.detail)
    return error_response(error.status_code, name, description, headers=error.headers)


async def _database_unavailable(_: Request, error: Exception) -> JSONResponse:
    log.warning("the database did not answer: %s", error)
    return error_response(
        503,
        "Service unavailable",
        "The database is not answering right now; try again in a few seconds",
        headers={"Retry-After": str(DATABASE_RETRY_SECONDS)},
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(AppError, _app_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
    for outage in DATABASE_UNAVAILABLE:
        app.add_exception_handler(outage, _database_unavailable)


def http_error_response(error: HTTPException) -> JSONResponse:
    return error_response(error.status_code, _phrase(error.status_code), error.detail)


def _phrase(status: int) -> str:
    """'Method not allowed': the standard reason, in the sentence case of our own names."""
    return HTTPStatus(status).phrase.capitalize()
