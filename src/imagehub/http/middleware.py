"""The ASGI layers around every route: the request's id, log line, metrics and last-resort
500 (outermost), and the request body's size limit."""

from __future__ import annotations

import logging
import re
import time
import uuid

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from imagehub.core.logs import request_id_var
from imagehub.core.metrics import HTTP_LATENCY, HTTP_REQUESTS
from imagehub.http.errors import error_response, http_error_response

log = logging.getLogger(__name__)
access_log = logging.getLogger("imagehub.access")

_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class HttpMiddleware:
    """A layer for HTTP requests; lifespan events (and anything else) pass straight on."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        await self.handle(scope, receive, send)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        raise NotImplementedError


class RequestMiddleware(HttpMiddleware):
    """Gives each request an id (kept from `X-Request-ID` when sane) and returns it in the
    response; turns an exception nobody handled into a 500 envelope naming that id (the
    traceback goes to the log, never to the client); logs one access line and records the
    request's metrics."""

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        incoming = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        request_id = incoming if _VALID_REQUEST_ID.match(incoming) else uuid.uuid4().hex
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        status: int | None = None

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [*message.get("headers", []), (b"x-request-id", request_id.encode())]
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            log.exception("unhandled error in %s %s", scope["method"], scope["path"])
            if status is not None:
                raise  # too late for an error body; the server closes the connection
            response = error_response(
                500,
                "Internal server error",
                f"An unexpected error occurred; it was logged with request id {request_id}",
            )
            await response(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            method, answered = scope["method"], status or 500
            HTTP_REQUESTS.labels(method, template, str(answered)).inc()
            HTTP_LATENCY.labels(method, template).observe(elapsed)
            access_log.info("%s %s %d %.1fms", method, scope["path"], answered, elapsed * 1000)
            request_id_var.reset(token)


class BodySizeLimitMiddleware(HttpMiddleware):
    """Refuses request bodies over a limit (413) before they are read into memory; a few
    path prefixes (uploads) get their own, larger limit."""

    def __init__(
        self, app: ASGIApp, default_limit: int, limits: dict[str, int] | None = None
    ) -> None:
        super().__init__(app)
        self.default_limit = default_limit
        self.limits = limits or {}

    def _limit_for(self, path: str) -> int:
        for prefix, limit in self.limits.items():
            if path == prefix or path.startswith(prefix.rstrip("/") + "/"):
                return limit
        return self.default_limit

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        limit = self._limit_for(scope["path"])
        too_large = HTTPException(413, f"The request body is larger than {limit} bytes")
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await http_error_response(too_large)(scope, receive, send)
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
