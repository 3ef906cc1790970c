"""Per-user quotas (off by default): bytes stored, measured against what really is in
storage after the workers made the copies, and images per UTC day; an upload past either is
refused before anything is stored, in the envelope, naming the quota and the usage."""

from __future__ import annotations

import httpx

from imagehub.core.config import Settings
from imagehub.core.storage import Storage
from tests.conftest import assert_error, client_for, register
from tests.processing import images
from tests.processing.conftest import process_all, upload


async def bytes_in_storage(settings: Settings) -> int:
    storage = Storage.from_settings(settings)
    return sum([await storage.size(key) for key in storage.keys_under("tasks")])


async def me(client: httpx.AsyncClient, headers: dict[str, str]) -> dict[str, object]:
    answer = await client.get("/users/me", headers=headers)
    assert answer.status_code == 200, answer.text
    body: dict[str, object] = answer.json()
    return body


async def test_bytes_stored_are_what_storage_holds_and_the_quota_refuses_beyond(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    account = await register(client)
    photo = images.jpeg(640, 480)
    task_id = (await upload(client, account["headers"], [("a.jpg", photo)])).json()["task_id"]
    assert process_all(settings, task_id) == ["done"]
    stored = await bytes_in_storage(settings)
    assert stored > len(photo)  # the original, three copies and a thumbnail
    mine = await me(client, account["headers"])
    assert mine["usage"] == {"bytes_stored": stored, "images_today": 1}
    assert mine["quotas"] == {"bytes_stored": None, "images_per_day": None}

    capped = settings.model_copy(update={"quota_bytes_per_user": stored + len(photo) - 1})
    async with client_for(capped) as quota_client:
        refused = await upload(quota_client, account["headers"], [("b.jpg", photo)])
        body = assert_error(refused, 413, "Quota exceeded")
        assert (body["quota"], body["limit"], body["used"]) == (
            "bytes_stored",
            stored + len(photo) - 1,
            stored,
        )
        assert await bytes_in_storage(settings) == stored  # nothing of it was stored
        small = [("c.jpg", images.jpeg(8, 8))]
        assert (await upload(quota_client, account["headers"], small)).status_code == 202
        # Deleting makes room again.
        deleted = await quota_client.delete(f"/task/{task_id}", headers=account["headers"])
        assert deleted.status_code == 204
        again = await upload(quota_client, account["headers"], [("b.jpg", photo)])
        assert again.status_code == 202, again.text


async def test_images_per_day_refuses_with_retry_after_and_a_retry_still_answers(
    settings: Settings,
) -> None:
    async with client_for(settings.model_copy(update={"quota_images_per_day": 3})) as client:
        account = await register(client)
        two = [("a.jpg", images.jpeg()), ("b.png", images.png())]
        keyed = {**account["headers"], "Idempotency-Key": "first"}
        first = await upload(client, keyed, two)
        assert first.status_code == 202
        refused = await upload(client, account["headers"], two)
        body = assert_error(refused, 429, "Quota exceeded")
        assert (body["quota"], body["limit"], body["used"]) == ("images_per_day", 3, 2)
        assert 0 < int(refused.headers["Retry-After"]) <= 86_401
        assert (await upload(client, account["headers"], two[:1])).status_code == 202
        # The retry of an upload that was made is its answer, not a new upload.
        retried = await upload(client, keyed, two)
        assert retried.status_code == 202
        assert retried.json()["task_id"] == first.json()["task_id"]
        mine = await me(client, account["headers"])
        assert mine["usage"]["images_today"] == 3  # type: ignore[index]
        # Deleting today's uploads does not give the day's allowance back.
        task = first.json()["task_id"]
        assert (await client.delete(f"/task/{task}", headers=account["headers"])).status_code == 204
        assert_error(await upload(client, account["headers"], two[:1]), 429, "Quota exceeded")
        assert (await me(client, account["headers"]))["usage"]["images_today"] == 3  # type: ignore[index]
        assert mine["quotas"] == {"bytes_stored": None, "images_per_day": 3}
        # Another user has a day of their own.
        other = await register(client)
        assert (await upload(client, other["headers"], two)).status_code == 202
