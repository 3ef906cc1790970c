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
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from imagehub.errors import AppError
from imagehub.logs import request_id_var

log = logging.getLogger(__name__)


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
    else:
        description = str(error.detail)
    return error_response(error.status_code, name, description, headers=error.headers)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(AppError, _app_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)


class UnexpectedErrorMiddleware:
    """The last line: an exception nobody handled becomes a 500 envelope with the request
    id, and its traceback goes to the log (never to the client)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception:
            request_id = request_id_var.get()
            log.exception("unhandled error in %s %s", scope["method"], scope["path"])
            if started:
                raise  # too late for an error body; the server closes the connection
            response = error_response(
                500,
                "Internal server error",
                f"An unexpected error occurred; it was logged with request id {request_id}",
            )
            await response(scope, receive, send)


class BodySizeLimitMiddleware:
    """Refuses request bodies over a limit (413) before they are read into memory; a few
    path prefixes (uploads) get their own, larger limit."""

    def __init__(
        self, app: ASGIApp, default_limit: int, limits: dict[str, int] | None = None
    ) -> None:
        self.app = app
        self.default_limit = default_limit
        self.limits = limits or {}

    def _limit_for(self, path: str) -> int:
        for prefix, limit in self.limits.items():
            if path == prefix or path.startswith(prefix.rstrip("/") + "/"):
                return limit
        return self.default_limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self._limit_for(scope["path"])
        too_large = HTTPException(413, f"The request body is larger than {limit} bytes")
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await _http_error_response(too_large)(scope, receive, send)
            return
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise too_large
            return message

        await self.app(scope, counting_receive, send)


def _http_error_response(error: HTTPException) -> JSONResponse:
    return error_response(error.status_code, _phrase(error.status_code), error.detail)


def _phrase(status: int) -> str:
    """'Method not allowed': the standard reason, in the sentence case of our own names."""
    return HTTPStatus(status).phrase.capitalize()
