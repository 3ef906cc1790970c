"""A moderation decision reaches the upload's owner: a `deleted` image is served to staff
only (its files, its thumbnail, its signed links; left out of the zip, named in a note
inside it), another status restores it, and the owner sees each decision."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI

from imagehub.accounts.models import Role
from imagehub.core.config import Settings
from tests.conftest import assert_error, client_for, register, s3_settings
from tests.moderation.test_moderation import staff
from tests.processing import images
from tests.processing.conftest import process_all, upload


async def _board(client: httpx.AsyncClient, moderator: dict[str, str]) -> dict[str, Any]:
    groups = (await client.get("/groups", headers=moderator)).json()
    return {image["url"].split("?")[0].rsplit("/", 1)[1]: image for image in groups[0]["images"]}


async def _set(
    client: httpx.AsyncClient, moderator: dict[str, str], image_id: int, status: str
) -> None:
    answer = await client.put(f"/images/{image_id}", headers=moderator, json={"status": status})
    assert answer.status_code == 200, answer.text


async def test_a_deleted_image_is_for_staff_only_until_restored(
    client: httpx.AsyncClient, app: FastAPI, settings: Settings
) -> None:
    owner = await register(client)
    moderator = await staff(client, app)
    admin = await staff(client, app, Role.ADMIN)
    files = [("a.jpg", images.jpeg(400, 300)), ("b.png", images.png(400, 300))]
    task_id = (await upload(client, owner["headers"], files, "trip")).json()["task_id"]
    process_all(settings, task_id)
    board = await _board(client, moderator)
    a, b = board["a_original.jpg"], board["b_original.png"]

    status = (await client.get(f"/status/{task_id}", headers=owner["headers"])).json()
    assert [i["moderation"] for i in status["images"]] == ["new", "new"]
    links = status["images"][0]["links"]
    await _set(client, moderator, a["id"], "deleted")

    # The owner sees the decision, and no longer the files of that image.
    status = (await client.get(f"/status/{task_id}", headers=owner["headers"])).json()
    assert [i["moderation"] for i in status["images"]] == ["deleted", "new"]
    history = (await client.get(f"/history/{owner['user']['id']}", headers=owner["headers"])).json()
    assert {i["name"]: i["moderation"] for i in history} == {"a.jpg": "deleted", "b.png": "new"}
    for name in ("original", "rotated", "gray", "scaled", "thumbnail"):
        refused = await client.get(links[name], headers=owner["headers"])
        assert assert_error(refused, 404)["name"] == "Removed by moderation", name
        assert (await client.get(links[name], headers=admin)).status_code == 200, name  # staff
    kept = status["images"][1]["links"]["original"]
    assert (await client.get(kept, headers=owner["headers"])).status_code == 200

    archive = await client.get(f"/task/{task_id}", headers=owner["headers"])
    with zipfile.ZipFile(io.BytesIO(archive.content)) as zipped:
        assert zipped.namelist() == [
            "b_original.png",
            "b_rotated.png",
            "b_gray.png",
            "b_scaled.png",
            "removed-by-moderation.txt",
        ]
        assert "a.jpg" in zipped.read("removed-by-moderation.txt").decode()

    # Its signed links: staff only now (the board still shows it to them).
    board = await _board(client, moderator)
    for link in (board["a_original.jpg"]["url"], board["a_original.jpg"]["thumbnail_url"]):
        assert assert_error(await client.get(link), 404)["name"] == "Removed by moderation"
        assert assert_error(await client.get(link, headers=owner["headers"]), 404)
        assert (await client.get(link, headers=moderator)).status_code == 200
    assert (await client.get(b["url"])).status_code == 200
    # A link naming another image than the one it was made for does not verify.
    forged = board["a_original.jpg"]["url"].replace(f"image={a['id']}", f"image={b['id']}")
    assert_error(await client.get(forged), 403)

    # Another decision restores everything.
    await _set(client, moderator, a["id"], "review")
    assert (await client.get(links["original"], headers=owner["headers"])).status_code == 200
    assert (await client.get(board["a_original.jpg"]["url"])).status_code == 200
    archive = await client.get(f"/task/{task_id}", headers=owner["headers"])
    assert len(zipfile.ZipFile(io.BytesIO(archive.content)).namelist()) == 8


async def test_on_s3_a_deleted_images_links_are_the_apis_own(
    tmp_path: Path, clean_database: str, moto_s3: str, s3_bucket: str
) -> None:
    settings = s3_settings(
        tmp_path, moto_s3, s3_bucket, database_url=clean_database, broker_url="memory://"
    )
    async with client_for(settings) as client:
        owner = await register(client)
        task = (await upload(client, owner["headers"], [("a.jpg", images.jpeg())], "s3")).json()
        process_all(settings, task["task_id"])
        app = client._transport.app  # type: ignore[attr-defined]  # the app behind the client
        moderator = await staff(client, app)
        image = (await client.get("/groups", headers=moderator)).json()[0]["images"][0]
        assert "X-Amz-Signature=" in image["url"]  # presigned while it is not removed
        await _set(client, moderator, image["id"], "deleted")
        image = (await client.get("/groups", headers=moderator)).json()[0]["images"][0]
        # A presigned link cannot be checked, so a removed image gets links the API serves.
        assert image["url"].startswith("http://testserver/files/tasks/")
        assert assert_error(await client.get(image["url"]), 404)
        shown = await client.get(image["url"], headers=moderator)
        assert shown.status_code == 200
        assert shown.content == images.jpeg()
