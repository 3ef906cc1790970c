"""Object storage: one small interface over a local folder or S3-compatible storage.

obstore does the I/O for both, streaming and multipart. Keys are '/'-separated relative
paths chosen by our code, never by a client.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO
from urllib.parse import urlsplit

import obstore
from obstore.exceptions import NotFoundError
from obstore.store import LocalStore, ObjectStore, S3Store

from imagehub.core.config import Settings

Payload = bytes | IO[bytes] | Path | Iterable[bytes]
STREAM_CHUNK = 1024 * 1024
WRITES_AT_ONCE = 4  # an image job's files: three variants and a thumbnail
# Turns a storage key into a URL a browser can open (presigned, or signed by the API), given
# the moderation image it shows and whether that image is removed (its link is then one the
# API serves, and checks).
UrlMaker = Callable[[str, int, bool], Awaitable[str]]


# S3 answers a missing key with obstore's NotFoundError, the local folder with the OS's.
_NOT_FOUND = (NotFoundError, FileNotFoundError)


class ObjectNotFound(LookupError):
    pass


@dataclass(frozen=True)
class ObjectInfo:
    size: int
    etag: str  # strong, quoted: the store's own (S3's, or the folder's inode-time-size)


MEDIA_TYPES = {"png": "image/png", "webp": "image/webp", "jpg": "image/jpeg", "jpeg": "image/jpeg"}


def media_type_of(name: str) -> str:
    """A stored image's media type, from its name (our keys end in their format's)."""
    return MEDIA_TYPES.get(name.rsplit(".", 1)[-1].lower(), "application/octet-stream")


class Storage:
    def __init__(self, store: ObjectStore, description: str, signer: S3Store | None = None) -> None:
        self.store = store
        self.description = description
        # S3 only: presigns browser URLs (for the public host when one is configured).
        self.signer = signer
        # S3: each write is a round trip, so several go at once. The local folder's writes
        # share one disk: four at once took 40% longer than in turn here.
        self.writes_at_once = isinstance(store, S3Store)
        self._writers: ThreadPoolExecutor | None = None  # made on first use, in this process

    @property
    def presigns(self) -> bool:
        return self.signer is not None

    @classmethod
    def from_settings(cls, settings: Settings) -> Storage:
        return cls.from_url(settings.effective_storage_url, settings)

    @classmethod
    def from_url(cls, url: str, settings: Settings) -> Storage:
        parts = urlsplit(url)
        if parts.scheme == "file":
            root = Path(parts.path)
            root.mkdir(parents=True, exist_ok=True)
            return cls(LocalStore(root, mkdir=True), f"local folder {root}")
        if parts.scheme == "s3":
            config: dict[str, str | bool] = {"region": settings.s3_region}
            if settings.s3_endpoint_url:
                config["endpoint"] = settings.s3_endpoint_url
                config["virtual_hosted_style_request"] = False
            if settings.s3_access_key_id:
                config["access_key_id"] = settings.s3_access_key_id
            if settings.s3_secret_access_key:
                config["secret_access_key"] = settings.s3_secret_access_key.get_secret_value()
            allow_http = (settings.s3_endpoint_url or "").startswith("http://")
            options = {"allow_http": allow_http, "timeout": "60s"}
            prefix = parts.path.strip("/") or None
            store = S3Store(parts.netloc, prefix=prefix, config=config, client_options=options)  # type: ignore[arg-type]
            signer = store
            if settings.storage_public_url:
                # Presigning is local arithmetic, but the host is part of what is signed.
                public = {**config, "endpoint": settings.storage_public_url}
                signer = S3Store(parts.netloc, prefix=prefix, config=public, client_options=options)  # type: ignore[arg-type]
            return cls(store, f"S3 bucket {parts.netloc}", signer)
        raise ValueError(f"unsupported storage URL {url!r}: use file:///path or s3://bucket")

    # Each operation exists once, in the style of its callers: workers and the API's
    # threads (uploads, zips) read and write through the sync calls; the API's event loop
    # asks for sizes (a zip's, gathered at once: on S3 each is a round trip), presigned
    # links and the readiness probe.

    def put(self, key: str, data: Payload) -> None:
        obstore.put(self.store, key, data)

    def put_all(self, objects: Mapping[str, Payload]) -> dict[str, float]:
        """Store each object (at once where that pays: `writes_at_once`); returns the
        seconds each write took. Raises the first failure once every write has ended."""
        if not self.writes_at_once or len(objects) < 2:
            return {key: self._timed_put(key, data) for key, data in objects.items()}
        if self._writers is None:
            self._writers = ThreadPoolExecutor(WRITES_AT_ONCE, thread_name_prefix="storage-put")
        writes = {
            key: self._writers.submit(self._timed_put, key, data) for key, data in objects.items()
        }
        wait(writes.values())
        return {key: write.result() for key, write in writes.items()}

    def _timed_put(self, key: str, data: Payload) -> float:
        began = time.perf_counter()
        self.put(key, data)
        return time.perf_counter() - began

    def read(self, key: str) -> bytes:
        try:
            return bytes(obstore.get(self.store, key).bytes())
        except _NOT_FOUND as error:
            raise ObjectNotFound(key) from error

    def stream(self, key: str, byte_range: tuple[int, int] | None = None) -> Iterator[bytes]:
        """The object (or its bytes [start, end) ) in chunks, read as they are asked for (a
        response or a zip sends them from a thread)."""
        try:
            options = {"range": byte_range} if byte_range else None
            result = obstore.get(self.store, key, options=options)  # type: ignore[arg-type]
        except _NOT_FOUND as error:
            raise ObjectNotFound(key) from error
        for chunk in result.stream(min_chunk_size=STREAM_CHUNK):
            yield bytes(chunk)

    def delete(self, key: str) -> None:
        # Deleting a missing object is not an error (S3 semantics, kept for the folder too).
        with contextlib.suppress(*_NOT_FOUND):
            obstore.delete(self.store, key)

    def last_changes_by_folder(self, prefix: str) -> dict[str, datetime]:
        """For each folder right under `prefix`, a top-level folder ("tasks" -> "tasks/<id>"),
        when the newest object in it was written."""
        newest: dict[str, datetime] = {}
        for batch in obstore.list(self.store, prefix=prefix):
            for meta in batch:
                folder = "/".join(meta["path"].split("/", 2)[:2])
                if folder not in newest or meta["last_modified"] > newest[folder]:
                    newest[folder] = meta["last_modified"]
        return newest

    def keys_under(self, prefix: str) -> list[str]:
        """Every key under `prefix`, a folder's path ("tasks/<id>": whole segments only)."""
        return [meta["path"] for batch in obstore.list(self.store, prefix=prefix) for meta in batch]

    def delete_under(self, prefix: str) -> int:
        """Delete every object under `prefix` (whole segments); how many there were."""
        keys = self.keys_under(prefix)
        for start in range(0, len(keys), 1000):  # S3 deletes at most 1,000 keys a request
            obstore.delete(self.store, keys[start : start + 1000])
        return len(keys)

    async def size(self, key: str) -> int:
        return (await self.info(key)).size

    async def info(self, key: str) -> ObjectInfo:
        try:
            meta = await obstore.head_async(self.store, key)
        except _NOT_FOUND as error:
            raise ObjectNotFound(key) from error
        etag = meta.get("e_tag") or f'"{meta["size"]}-{meta["last_modified"].timestamp()}"'
        return ObjectInfo(int(meta["size"]), etag if etag.startswith('"') else f'"{etag}"')

    async def presigned_url(self, key: str, lifetime_seconds: int) -> str:
        assert self.signer is not None, "only S3 storage presigns"
        url = await obstore.sign_async(self.signer, "GET", key, timedelta(seconds=lifetime_seconds))
        return str(url)

    async def check(self) -> None:
        """Raise unless the store answers. A listing, not a HEAD: S3 answers a HEAD in a
        missing bucket with a bare 404, which would look like a healthy missing key."""
        await obstore.list_with_delimiter_async(self.store, prefix=".readyz-probe")
