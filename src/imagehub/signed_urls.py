"""Expiring URLs, signed by the API, for objects in the local folder (S3 presigns its own).

`/files/<key>?expires=<unix time>&signature=<hex>`: anyone holding the link may fetch that one
object until it expires, with no token, as a browser's <img> needs.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from urllib.parse import quote

FILES_PREFIX = "/files/"


def _signature(key: str, expires: int, secret: bytes) -> str:
    message = f"{key}\n{expires}".encode()
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


def sign(key: str, lifetime_seconds: int, secret: bytes, now: float | None = None) -> str:
    expires = int((now or time.time()) + lifetime_seconds)
    signature = _signature(key, expires, secret)
    return f"{FILES_PREFIX}{quote(key)}?expires={expires}&signature={signature}"


def verify(
    key: str, expires: int, signature: str, secret: bytes, now: float | None = None
) -> str | None:
    """None when the link is good; otherwise why it is not."""
    if not hmac.compare_digest(_signature(key, expires, secret), signature):
        return "The link's signature does not match"
    if expires < (now or time.time()):
        return "The link has expired; ask for the image again"
    return None
