"""Object storage on a local folder and on S3 (a real S3-protocol server: moto)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from imagehub.core.storage import ObjectNotFound, Storage
from tests.conftest import make_settings, s3_settings


@pytest.fixture(params=["local", "s3"])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> Storage:
    if request.param == "local":
        return Storage.from_settings(make_settings(tmp_path))
    endpoint = request.getfixturevalue("moto_s3")
    bucket = request.getfixturevalue("s3_bucket")
    return Storage.from_settings(s3_settings(tmp_path, endpoint, bucket))


async def test_put_read_size_delete(storage: Storage) -> None:
    storage.put("tasks/1/photo_original.jpg", b"\xff\xd8hello")
    assert storage.read("tasks/1/photo_original.jpg") == b"\xff\xd8hello"
    assert await storage.size("tasks/1/photo_original.jpg") == 7
    storage.delete("tasks/1/photo_original.jpg")
    with pytest.raises(ObjectNotFound):  # gone
        await storage.size("tasks/1/photo_original.jpg")
    storage.delete("tasks/1/photo_original.jpg")  # deleting twice is fine


async def test_missing_objects_raise_object_not_found(storage: Storage) -> None:
    with pytest.raises(ObjectNotFound):
        storage.read("missing")
    with pytest.raises(ObjectNotFound):
        await storage.size("missing")
    with pytest.raises(ObjectNotFound):
        list(storage.stream("missing"))


async def test_large_objects_stream_both_ways(storage: Storage) -> None:
    payload = os.urandom(256 * 1024)
    parts = 48  # 12 MiB: more than one multipart part on S3

    def produce() -> Iterator[bytes]:
        for _ in range(parts):
            yield payload

    storage.put("big.bin", produce())
    assert await storage.size("big.bin") == parts * len(payload)
    received = 0
    for chunk in storage.stream("big.bin"):
        assert chunk == payload * (len(chunk) // len(payload)) or len(chunk) % len(payload)
        received += len(chunk)
    assert received == parts * len(payload)


async def test_check_passes_when_reachable(storage: Storage) -> None:
    await storage.check()


async def test_check_fails_for_a_missing_bucket(tmp_path: Path, moto_s3: str) -> None:
    storage = Storage.from_settings(s3_settings(tmp_path, moto_s3, "no-such-bucket"))
    with pytest.raises(Exception, match=r"(?i)bucket"):
        await storage.check()


def test_unsupported_storage_url(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unsupported storage URL"):
        Storage.from_settings(make_settings(tmp_path, storage_url="ftp://example.com/x"))


def test_put_all_stores_every_object_and_says_how_long_each_took(storage: Storage) -> None:
    objects = {f"job/{name}.jpg": bytes([n]) * (n + 1) * 1000 for n, name in enumerate("abcd")}
    took = storage.put_all(objects)
    assert set(took) == set(objects)
    assert all(seconds > 0 for seconds in took.values())
    for key, data in objects.items():
        assert storage.read(key) == data
    # At once on S3 (each write a round trip); in turn on the local folder (one disk).
    assert storage.writes_at_once is (storage.signer is not None)


def test_put_all_raises_when_a_write_fails(tmp_path: Path, moto_s3: str) -> None:
    missing = Storage.from_settings(s3_settings(tmp_path, moto_s3, "no-such-bucket"))
    with pytest.raises(Exception, match=r"(?i)bucket"):
        missing.put_all({"a": b"1", "b": b"2"})
