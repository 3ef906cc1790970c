"""Links to stored objects that a browser opens without a token, as an <img> needs, and
how every stored file is answered.

On S3 the storage presigns them. For the local folder (and for an image moderation removed)
the API signs them itself, `/files/<key>?expires=<unix time>&image=<id>&signature=<hex>`, and
the moderation domain serves them (it checks the image's status): anyone holding the link
may fetch that one object until it expires.

Links are made to be cached: those made within the same hour share their expiry (at least
the configured lifetime away), so an image's link stays the same and a page seen again is
served from the browser's cache (or a CDN's). File answers carry a strong ETag (304 for
`If-None-Match`), honour a single `Range`, and say how long they may be kept.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import re
import time
from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, Request, Response
from fastapi.responses import StreamingResponse

from imagehub.core.errors import NotFound, RangeNotSatisfiable
from imagehub.core.storage import ObjectInfo, ObjectNotFound, Storage, UrlMaker, media_type_of
from imagehub.http.deps import ServicesDep

FILES_PREFIX = "/files/"


def _signature(key: str, expires: int, image: int, secret: bytes) -> str:
    message = f"{key}\n{expires}\n{image}".encode()
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


def sign(
    key: str, lifetime_seconds: int, secret: bytes, now: float | None = None, image: int = 0
) -> str:
    return sign_until(key, int((now or time.time()) + lifetime_seconds), secret, image)


def sign_until(key: str, expires: int, secret: bytes, image: int = 0) -> str:
    """A link to `key` until `expires`, naming the moderation image it shows (whose status
    the route that serves it checks)."""
    signature = _signature(key, expires, image, secret)
    return f"{FILES_PREFIX}{quote(key)}?expires={expires}&image={image}&signature={signature}"


LINK_BUCKET_SECONDS = 3600


def link_expiry(now: float, lifetime_seconds: int) -> int:
    """The expiry of every link made in the same hour: at least `lifetime_seconds` away, at
    most an hour more."""
    return math.ceil((now + lifetime_seconds) / LINK_BUCKET_SECONDS) * LINK_BUCKET_SECONDS


class PresignedLinks:
    """S3 presigns with the current time in the URL, so a link made again differs; this
    process keeps each key's link for its bucket and hands out the same one."""

    MAX_KEPT = 100_000

    def __init__(self) -> None:
        self._links: dict[str, tuple[int, str]] = {}

    async def link(self, storage: Storage, key: str, expires: int, now: float) -> str:
        kept = self._links.get(key)
        if kept is not None and kept[0] == expires:
            return kept[1]
        url = await storage.presigned_url(key, max(1, int(expires - now)))
        if len(self._links) >= self.MAX_KEPT:
            self._links.clear()  # a new hour's links replace the old ones anyway
        self._links[key] = (expires, url)
        return url


def verify(
    key: str,
    expires: int,
    signature: str,
    secret: bytes,
    now: float | None = None,
    image: int = 0,
) -> str | None:
    """None when the link is good; otherwise why it is not."""
    if not hmac.compare_digest(_signature(key, expires, image, secret), signature):
        return "The link's signature does not match"
    if expires < (now or time.time()):
        return "The link has expired; ask for the image again"
    return None


async def url_maker(request: Request, services: ServicesDep) -> UrlMaker:
    """Presigned URLs on S3; on the local folder, and for an image removed by moderation
    (whose every request must be checked), URLs signed by this API."""
    storage, secret = services.storage, services.url_signing_key
    lifetime = services.settings.signed_url_minutes * 60
    base = str(request.base_url).rstrip("/")
    presigned: PresignedLinks | None = getattr(request.app.state, "presigned_links", None)
    if presigned is None:
        presigned = request.app.state.presigned_links = PresignedLinks()

    async def make(key: str, image: int, removed: bool) -> str:
        now = time.time()
        expires = link_expiry(now, lifetime)
        if storage.presigns and not removed:
            return await presigned.link(storage, key, expires, now)
        return base + sign_until(key, expires, secret, image)

    return make


UrlMakerDep = Annotated[UrlMaker, Depends(url_maker)]


def is_plain_key(key: str) -> bool:
    """A key as our code makes them: '/'-separated names, none empty, `.` or `..`."""
    return "\\" not in key and all(part not in ("", ".", "..") for part in key.split("/"))


# Kept, but asked again each time (a 304 when unchanged): a moderation decision applies at once.
OWNER_FILE_CACHING = "private, no-cache"


async def file_response(
    request: Request, storage: Storage, key: str, cache_control: str = OWNER_FILE_CACHING
) -> Response:
    """A stored file as an answer: a strong ETag (304 when the client has it), one byte
    range when asked for (206; 416 outside the file), and how long it may be kept."""
    try:
        info = await storage.info(key)
    except ObjectNotFound as error:
        raise NotFound("No such file", name="File not found") from error
    headers = {"ETag": info.etag, "Cache-Control": cache_control, "Accept-Ranges": "bytes"}
    if _has_it_already(request.headers.get("if-none-match", ""), info.etag):
        return Response(status_code=304, headers=headers)
    byte_range = _asked_range(request, info)
    media_type = media_type_of(key)
    if byte_range is None:
        headers["Content-Length"] = str(info.size)
        return StreamingResponse(storage.stream(key), media_type=media_type, headers=headers)
    start, end = byte_range
    headers["Content-Length"] = str(end - start)
    headers["Content-Range"] = f"bytes {start}-{end - 1}/{info.size}"
    return StreamingResponse(
        storage.stream(key, byte_range), status_code=206, media_type=media_type, headers=headers
    )


def _has_it_already(if_none_match: str, etag: str) -> bool:
    tags = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
    return "*" in tags or etag in tags


_RANGE = re.compile(r"bytes=(\d*)-(\d*)")


def _asked_range(request: Request, info: ObjectInfo) -> tuple[int, int] | None:
    """[start, end) of a single `Range: bytes=a-b | a- | -n`, or None for the whole file
    (no Range, several ranges, a form we do not read, or an `If-Range` that no longer
    matches); RangeNotSatisfiable when it falls outside the file."""
    asked = _RANGE.fullmatch(request.headers.get("range", "").strip())
    if_range = request.headers.get("if-range")
    if asked is None or (if_range is not None and if_range != info.etag):
        return None
    first, last = asked.groups()
    size = info.size
    if first == "" and last == "":
        return None
    if first == "":  # the last n bytes
        start, end = max(0, size - int(last)), size
    else:
        start = int(first)
        end = size if last == "" else min(size, int(last) + 1)
    if start >= size or start >= end:
        raise RangeNotSatisfiable(size)
    return start, end
