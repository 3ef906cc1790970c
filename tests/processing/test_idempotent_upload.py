"""`Idempotency-Key` on POST /upload: a retried upload (its 202 lost, a double click) answers
with the task it made and stores nothing again; the key with other files is 422; twins sent
at once make one task (both databases)."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import httpx
import sqlalchemy as sa

from imagehub.core.config import Settings
from imagehub.core.db import utcnow
from imagehub.core.storage import Storage
from imagehub.processing.models import UploadKey
from tests.conftest import assert_error, connected, register
from tests.processing import images
from tests.processing.conftest import counts

PHOTO = images.jpeg()


async def keyed_upload(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    key: str | bytes | None,
    files: list[tuple[str, bytes]] | None = None,
    group: str | None = None,
) -> httpx.Response:
    parts = [("files", (n, d, "image/jpeg")) for n, d in files or [("a.jpg", PHOTO)]]
    sent = {**headers, **({"Idempotency-Key": key} if key is not None else {})}
    data = {"group": group} if group is not None else None
    return await client.post("/upload", files=parts, data=data, headers=sent)  # type: ignore[arg-type]


def stored(settings: Settings) -> list[str]:
    return Storage.from_settings(settings).keys_under("tasks")


async def test_a_retry_answers_with_the_first_task_and_stores_nothing(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    account = await register(client)
    first = await keyed_upload(client, account["headers"], "upload-1", group="trip")
    assert first.status_code == 202, first.text
    files = stored(settings)
    again = await keyed_upload(client, account["headers"], '"upload-1"', group="trip")
    assert again.status_code == 202
    assert again.json()["task_id"] == first.json()["task_id"]
    assert again.headers["Location"] == first.headers["Location"]
    assert stored(settings) == files
    assert counts(settings)["tasks"] == 1
    # Without a key, or with another one, it is a new upload.
    assert (await keyed_upload(client, account["headers"], None)).json()["task_id"] != first.json()[
        "task_id"
    ]
    assert (await keyed_upload(client, account["headers"], "upload-2")).status_code == 202
    assert counts(settings)["tasks"] == 3


async def test_the_key_with_other_files_or_group_is_422_and_stores_nothing(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    account = await register(client)
    assert (await keyed_upload(client, account["headers"], "k", group="trip")).status_code == 202
    files = stored(settings)
    others: list[dict[str, Any]] = [
        {"files": [("a.jpg", images.jpeg(width=41))], "group": "trip"},
        {"files": [("b.jpg", PHOTO)], "group": "trip"},
        {"files": [("a.jpg", PHOTO)], "group": "work"},
        {"files": [("a.jpg", PHOTO), ("a.jpg", PHOTO)], "group": "trip"},
    ]
    for other in others:
        refused = await keyed_upload(client, account["headers"], "k", **other)
        assert "Idempotency-Key" in assert_error(refused, 422)["description"]
    assert stored(settings) == files
    assert counts(settings)["tasks"] == 1


async def test_keys_are_per_user_and_last_a_day(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    ada, bob = await register(client), await register(client)
    mine = (await keyed_upload(client, ada["headers"], "same")).json()["task_id"]
    theirs = (await keyed_upload(client, bob["headers"], "same")).json()["task_id"]
    assert mine != theirs
    with connected(settings.effective_database_url) as connection:
        connection.execute(sa.update(UploadKey).values(created_at=utcnow() - timedelta(hours=25)))
    later = await keyed_upload(client, ada["headers"], "same", files=[("z.jpg", PHOTO)])
    assert later.status_code == 202  # a day on, the key is free for any upload
    assert later.json()["task_id"] != mine
    # A deleted task frees its key too.
    assert (await client.delete(f"/task/{theirs}", headers=bob["headers"])).status_code == 204
    again = await keyed_upload(client, bob["headers"], "same")
    assert again.status_code == 202
    assert again.json()["task_id"] != theirs


async def test_a_refused_upload_does_not_take_the_key(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    account = await register(client)
    refused = await keyed_upload(client, account["headers"], "k", files=[("a.jpg", b"not a jpeg")])
    assert_error(refused, 400)
    assert (await keyed_upload(client, account["headers"], "k")).status_code == 202


async def test_malformed_keys_are_400(client: httpx.AsyncClient, settings: Settings) -> None:
    account = await register(client)
    malformed: list[str | bytes] = ["x" * 256, '""', "", "caf\xe9".encode("latin-1"), b"tab\t"]
    for key in malformed:
        assert_error(await keyed_upload(client, account["headers"], key), 400)
    assert stored(settings) == []
    assert (await keyed_upload(client, account["headers"], "x" * 255)).status_code == 202


async def test_twins_sent_at_once_make_one_task(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    account = await register(client)
    answers = await asyncio.gather(
        *(keyed_upload(client, account["headers"], "twin") for _ in range(3))
    )
    assert [a.status_code for a in answers] == [202] * 3, [a.text for a in answers]
    assert len({a.json()["task_id"] for a in answers}) == 1
    assert counts(settings)["tasks"] == 1
    assert len(stored(settings)) == 1
