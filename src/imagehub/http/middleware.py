"""The ASGI layers around every route: the request's id, log line, metrics and last-resort
500 (outermost), and the request body's limits in size and time."""

from __future__ import annotations

import logging
import re
import time
import uuid
from dataclasses import dataclass

import anyio
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from imagehub.core.logs import request_id_var
from imagehub.core.metrics import HTTP_LATENCY, HTTP_REQUESTS
from imagehub.http.errors import error_response, http_error_response

log = logging.getLogger(__name__)
access_log = logging.getLogger("imagehub.access")

_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
# What we answer a client that left before its answer (nginx's code): not a server error.
CLIENT_CLOSED = 499


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
    response, with `nosniff` (a stored file is served as what it is, never sniffed into a
    page); turns an exception nobody handled into a 500 envelope naming that id (the
    traceback goes to the log, never to the client); logs one access line and records the
    request's metrics. A client that leaves mid-request is logged as such, as a 499."""

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
                headers = [
                    *message.get("headers", []),
                    (b"x-request-id", request_id.encode()),
                    (b"x-content-type-options", b"nosniff"),
                ]
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except ClientDisconnect:
            log.info("%s %s: the client disconnected", scope["method"], scope["path"])
            status = status or CLIENT_CLOSED
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


@dataclass(frozen=True)
class BodyLimits:
    max_bytes: int
    max_seconds: float  # from the request's start until its body has fully arrived


class BodyLimitsMiddleware(HttpMiddleware):
    """Refuses request bodies over a size (413) before they are read into memory, and
    bodies that do not arrive in time (408: a client sending a byte a second holds no slot
    for long). A few path prefixes (uploads) get limits of their own."""

    def __init__(
        self, app: ASGIApp, default: BodyLimits, by_prefix: dict[str, BodyLimits] | None = None
    ) -> None:
        super().__init__(app)
        self.default = default
        self.by_prefix = by_prefix or {}

    def _limits_for(self, path: str) -> BodyLimits:
        for prefix, limits in self.by_prefix.items():
            if path == prefix or path.startswith(prefix.rstrip("/") + "/"):
                return limits
        return self.default

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        limits = self._limits_for(scope["path"])
        too_large = HTTPException(413, f"The request body is larger than {limits.max_bytes} bytes")
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limits.max_bytes:
            await http_error_response(too_large)(scope, receive, send)
            return
        deadline = anyio.current_time() + limits.max_seconds
        received, complete = 0, False

        async def limited_receive() -> Message:
            nonlocal received, complete
            if complete:  # the body is in: what follows is the disconnect notice, untimed
                return await receive()
            with anyio.move_on_after(deadline - anyio.current_time()) as waiting:
                message = await receive()
            if waiting.cancelled_caught:
                raise HTTPException(
                    408, f"The request body did not arrive within {limits.max_seconds:.0f} s"
                )
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limits.max_bytes:
                    raise too_large
                complete = not message.get("more_body", False)
            return message

        await self.app(scope, limited_receive, send)
