"""The one error family of the service.

Every failure a client can cause is an `AppError`; one handler turns it into the one envelope
`{"code": ..., "name": ..., "description": ...}`. This module knows nothing of the web
framework so services, workers and the CLI raise the same errors.
"""

from __future__ import annotations

from typing import Any, ClassVar


class AppError(Exception):
    status_code: ClassVar[int] = 500
    name: ClassVar[str] = "Internal server error"
    # A failed request normally leaves nothing behind. Errors that are themselves a fact
    # worth keeping (a failed login is counted) set this so the transaction still commits.
    keep_changes: ClassVar[bool] = False

    def __init__(
        self,
        description: str,
        *,
        name: str | None = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(description)
        self.description = description
        if name is not None:
            self.name = name  # type: ignore[misc]  # instance override of the class default
        self.headers = headers or {}
        self.extra = extra or {}

    def envelope(self) -> dict[str, Any]:
        return {
            "code": self.status_code,
            "name": self.name,
            "description": self.description,
            **self.extra,
        }


class InvalidInput(AppError):
    status_code = 400
    name = "Invalid input"


class Unauthorized(AppError):
    status_code = 401
    name = "Not authenticated"

    def __init__(self, description: str = "Missing or invalid credentials", **kwargs: Any):
        kwargs.setdefault("headers", {"WWW-Authenticate": "Bearer"})
        super().__init__(description, **kwargs)


class Forbidden(AppError):
    status_code = 403
    name = "Forbidden"


class NotFound(AppError):
    status_code = 404
    name = "Not found"


class Conflict(AppError):
    status_code = 409
    name = "Conflict"


class PayloadTooLarge(AppError):
    status_code = 413
    name = "Payload too large"


class RangeNotSatisfiable(AppError):
    status_code = 416
    name = "Range not satisfiable"

    def __init__(self, size: int, **kwargs: Any):
        kwargs.setdefault("headers", {"Content-Range": f"bytes */{size}"})
        super().__init__(f"The file has {size} bytes; ask for a range within them", **kwargs)


class TooManyRequests(AppError):
    status_code = 429
    name = "Too many requests"

    def __init__(self, description: str, *, retry_after: int, **kwargs: Any):
        kwargs.setdefault("headers", {"Retry-After": str(max(1, retry_after))})
        super().__init__(description, **kwargs)


class ServiceUnavailable(AppError):
    status_code = 503
    name = "Service unavailable"
