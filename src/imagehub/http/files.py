"""Links to stored objects that a browser opens without a token, as an <img> needs.

On S3 the storage presigns them. For the local folder the API signs them itself,
`/files/<key>?expires=<unix time>&signature=<hex>`, and serves them here: anyone holding the
link may fetch that one object until it expires.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, Request
from fastapi.responses import StreamingResponse

from imagehub.core.errors import Forbidden, NotFound
from imagehub.core.storage import ObjectNotFound, UrlMaker
from imagehub.http.deps import ServicesDep, StorageDep
from imagehub.http.routing import Router

FILES_PREFIX = "/files/"

router = Router(tags=["files"])


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


async def url_maker(request: Request, services: ServicesDep) -> UrlMaker:
    """Presigned URLs on S3; on the local folder, URLs signed by this API."""
    storage, secret = services.storage, services.url_signing_key
    lifetime = services.settings.signed_url_minutes * 60
    base = str(request.base_url).rstrip("/")

    async def make(key: str) -> str:
        if storage.presigns:
            return await storage.presigned_url(key, lifetime)
        return base + sign(key, lifetime, secret)

    return make


UrlMakerDep = Annotated[UrlMaker, Depends(url_maker)]


def _is_plain_key(key: str) -> bool:
    """A key as our code makes them: '/'-separated names, none empty, `.` or `..`."""
    return "\\" not in key and all(part not in ("", ".", "..") for part in key.split("/"))


@router.get("/files/{key:path}", include_in_schema=False)
async def signed_file(
    key: str, storage: StorageDep, services: ServicesDep, expires: int = 0, signature: str = ""
) -> StreamingResponse:
    """An object of the local folder behind a signed, expiring link (no token needed)."""
    problem = verify(key, expires, signature, services.url_signing_key)
    if problem:
        raise Forbidden(problem, name="Invalid link")
    if not _is_plain_key(key):  # we never sign one, but a key is the client's text here
        raise NotFound("No such file", name="File not found")
    try:
        size = await storage.size(key)
    except ObjectNotFound as error:
        raise NotFound("No such file", name="File not found") from error
    media = "image/png" if key.lower().endswith(".png") else "image/jpeg"
    return StreamingResponse(
        storage.stream(key),
        media_type=media,
        headers={"Content-Length": str(size), "Cache-Control": "private, max-age=300"},
    )
