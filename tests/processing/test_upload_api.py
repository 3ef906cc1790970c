"""Upload, status, history, zip and files through the API; jobs run in-process."""

from __future__ import annotations

import io
import uuid
import zipfile
from pathlib import Path
from urllib.parse import unquote

import httpx
import pytest
from fastapi import FastAPI
from PIL import Image

from imagehub.core.config import Settings
from tests.conftest import (
    assert_error,
    client_for,
    connected,
    make_settings,
    promote,
    register,
)
from tests.processing import images
from tests.processing.conftest import counts, process_all, run_job, stored_objects, upload

NOTHING = {"tasks": 0, "task_images": 0, "image_task": 0}


async def test_upload_then_status_then_zip(client: httpx.AsyncClient, settings: Settings) -> None:
    account = await register(client)
    response = await upload(
        client, account["headers"], [("cat.jpg", images.jpeg()), ("dog.PNG", images.png())], "pets"
    )
    assert response.status_code == 202, response.text
    body = response.json()
    task_id = body["task_id"]
    assert response.headers["location"] == f"/status/{task_id}"
    assert (body["status"], body["total"], body["done"], body["failed"]) == ("pending", 2, 0, 0)
    assert body["group"] == "pets"
    assert [i["name"] for i in body["images"]] == ["cat.jpg", "dog.png"]
    first = body["images"][0]
    assert first["links"]["original"] == f"/task/{task_id}/files/cat_original.jpg"
    assert first["links"]["rotated"] is None
    assert first["links"]["thumbnail"] is None  # made by the worker
    assert_error(await client.get(f"/task/{task_id}", headers=account["headers"]), 409)

    assert process_all(settings, task_id) == ["done", "done"]
    status = (await client.get(f"/status/{task_id}", headers=account["headers"])).json()
    assert (status["status"], status["done"], status["failed"]) == ("done", 2, 0)
    assert status["finished_at"].endswith("Z")
    assert all(all(i["links"].values()) for i in status["images"])

    archive = await client.get(f"/task/{task_id}", headers=account["headers"])
    assert archive.status_code == 200
    assert archive.headers["content-type"] == "application/zip"
    assert int(archive.headers["content-length"]) == len(archive.content)
    with zipfile.ZipFile(io.BytesIO(archive.content)) as zipped:
        assert zipped.namelist() == [
            "cat_original.jpg",
            "cat_rotated.jpg",
            "cat_gray.jpg",
            "cat_scaled.jpg",
            "dog_original.png",
            "dog_rotated.png",
            "dog_gray.png",
            "dog_scaled.png",
        ]
        assert zipped.read("cat_original.jpg") == images.jpeg()  # untouched
        assert Image.open(io.BytesIO(zipped.read("dog_scaled.png"))).size == (20, 15)
        assert all(info.compress_type == zipfile.ZIP_STORED for info in zipped.infolist())
    assert counts(settings) == {"tasks": 1, "task_images": 2, "image_task": 8}

    one = await client.get(status["images"][1]["links"]["gray"], headers=account["headers"])
    assert one.status_code == 200
    assert one.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(one.content)).mode == "L"

    # Each image has a thumbnail too, served like its files but not one of them (not in the
    # zip, no image_task row, above).
    cat, dog = status["images"]
    assert cat["links"]["thumbnail"] == f"/task/{task_id}/files/cat_thumbnail.jpg"
    assert dog["links"]["thumbnail"] == f"/task/{task_id}/files/dog_thumbnail.jpg"  # opaque
    thumbnail = await client.get(cat["links"]["thumbnail"], headers=account["headers"])
    assert thumbnail.headers["content-type"] == "image/jpeg"
    assert Image.open(io.BytesIO(thumbnail.content)).size == (40, 30)  # small: not enlarged
    stranger = await register(client, "stranger@example.com")
    assert_error(await client.get(cat["links"]["thumbnail"], headers=stranger["headers"]), 404)


async def test_a_corrupt_image_fails_alone(client: httpx.AsyncClient, settings: Settings) -> None:
    account = await register(client)
    response = await upload(
        client,
        account["headers"],
        [("good.jpg", images.jpeg()), ("bad.jpg", images.corrupt_jpeg())],
    )
    assert response.status_code == 202
    task_id = response.json()["task_id"]
    assert sorted(map(str, process_all(settings, task_id))) == ["done", "failed"]
    status = (await client.get(f"/status/{task_id}", headers=account["headers"])).json()
    assert (status["status"], status["done"], status["failed"]) == ("partial", 1, 1)
    bad = status["images"][1]
    assert bad["state"] == "failed"
    assert "damaged" in bad["error"]
    assert bad["error"] == "the image data is damaged and does not decode"  # not the codec's
    assert bad["links"]["original"]
    assert not bad["links"]["rotated"]
    archive = await client.get(f"/task/{task_id}", headers=account["headers"])
    names = zipfile.ZipFile(io.BytesIO(archive.content)).namelist()
    assert "bad_original.jpg" in names
    assert "bad_rotated.jpg" not in names
    assert len(names) == 5


async def test_all_failed_is_failed(client: httpx.AsyncClient, settings: Settings) -> None:
    account = await register(client)
    task_id = (await upload(client, account["headers"], [("x.jpg", images.corrupt_jpeg())])).json()[
        "task_id"
    ]
    process_all(settings, task_id)
    status = (await client.get(f"/status/{task_id}", headers=account["headers"])).json()
    assert status["status"] == "failed"


async def test_a_job_run_twice_changes_nothing(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    from sqlalchemy import select

    from imagehub.core import jobs
    from imagehub.processing.models import TaskImage

    account = await register(client)
    body = (await upload(client, account["headers"], [("a.png", images.png())])).json()
    process_all(settings, body["task_id"])
    with connected(settings.effective_database_url) as connection:
        image_id = connection.scalars(select(TaskImage.id)).one()
    jobs.configure_celery(settings)
    try:
        again = run_job(body["task_id"], image_id)  # a redelivery of the finished job
    finally:
        jobs.reset_worker_context()
    assert again == {}  # it finished nothing
    assert counts(settings) == {"tasks": 1, "task_images": 1, "image_task": 4}
    status = (await client.get(f"/status/{body['task_id']}", headers=account["headers"])).json()
    assert (status["done"], status["failed"], status["status"]) == (1, 0, "done")


async def test_repeated_names_are_numbered(client: httpx.AsyncClient, settings: Settings) -> None:
    account = await register(client)
    files = [
        ("photo.jpg", images.jpeg()),
        ("PHOTO.jpg", images.jpeg()),
        ("../../photo.jpg", images.jpeg()),
        ("C:\\Users\\me\\photo.jpg", images.jpeg()),
        ("Cafe\u0301 \u5199\u771f.png", images.png()),
    ]
    body = (await upload(client, account["headers"], files)).json()
    assert [i["name"] for i in body["images"]] == [
        "photo.jpg",
        "PHOTO-2.jpg",
        "photo-3.jpg",
        "photo-4.jpg",
        "Caf\u00e9 \u5199\u771f.png",  # NFC
    ]
    task_id = body["task_id"]
    assert all(not name.startswith("..") for name in stored_objects(settings))
    process_all(settings, task_id)
    archive = await client.get(f"/task/{task_id}", headers=account["headers"])
    names = zipfile.ZipFile(io.BytesIO(archive.content)).namelist()
    assert "Caf\u00e9 \u5199\u771f_gray.png" in names
    assert "photo-4_scaled.jpg" in names


LONG_NAMES = [
    "\u4e2d" * 100 + ".jpg",  # 300 bytes of CJK
    "\u00e9" * 296 + ".jpg",  # cut to 200 characters, still 400 bytes
    "\U0001f600" * 100 + ".png",  # 400 bytes of emoji
    "x" + "\u00e9" * 199 + ".jpg",  # the byte cut falls inside a two-byte character
]


@pytest.mark.parametrize("where", ["local", "s3"])
async def test_long_unicode_names_are_stored_under_keys_within_255_bytes(
    tmp_path: Path, clean_database: str, request: pytest.FixtureRequest, where: str
) -> None:
    """The name shown stays whole; the storage key's last part fits a file name."""
    from tests.conftest import s3_settings

    if where == "s3":
        moto, bucket = request.getfixturevalue("moto_s3"), request.getfixturevalue("s3_bucket")
        settings = s3_settings(
            tmp_path, moto, bucket, database_url=clean_database, broker_url="memory://"
        )
    else:
        settings = make_settings(tmp_path, database_url=clean_database, broker_url="memory://")
    twins = ["\u4e2d" * 120 + "A.jpg", "\u4e2d" * 120 + "B.jpg"]  # alike up to the cut
    names = LONG_NAMES + twins
    async with client_for(settings) as client:
        account = await register(client)
        data = {"jpg": images.jpeg(), "png": images.png()}
        files = [(name, data[name.rsplit(".", 1)[1]]) for name in names]
        body = (await upload(client, account["headers"], files)).json()
        # Shown whole, up to the 200 characters a name keeps; the bytes do not matter.
        assert [image["name"] for image in body["images"]] == [
            names[0],
            "\u00e9" * 200 + ".jpg",
            names[2],
            names[3],
            *twins,
        ]
        assert process_all(settings, body["task_id"]) == ["done"] * len(names)
        status = await client.get(f"/status/{body['task_id']}", headers=account["headers"])
        links = [link for image in status.json()["images"] for link in image["links"].values()]
        assert len(links) == 5 * len(names)  # four files and a thumbnail
        for link in links:
            last = unquote(link.rsplit("/", 1)[1])
            assert len(last.encode()) <= 255, last
            file = await client.get(link, headers=account["headers"])
            assert file.status_code == 200, link
        assert len(set(links)) == len(links)  # the twins did not meet
        archive = await client.get(f"/task/{body['task_id']}", headers=account["headers"])
        entries = zipfile.ZipFile(io.BytesIO(archive.content)).namelist()
        assert len(entries) == 4 * len(names)
        assert all(len(entry.encode()) <= 255 for entry in entries)


# --- Refusals: 4xx naming the file, and nothing stored ------------------------------------

REFUSED = [
    ("empty.jpg", b"", "empty"),
    ("truncated.png", images.png()[:20], "damaged"),
    ("renamed.jpg", images.gif(), "not a JPEG"),
    ("notes.jpg", b"just some text, honestly", "not a JPEG"),
    ("real.gif", images.gif(), "only .jpg"),
    ("noextension", images.jpeg(), "only .jpg"),
    ("swapped.jpg", images.png(), "is PNG, not JPEG"),
    ("bomb.png", images.png_bomb(), "pixels"),
]


@pytest.mark.parametrize(("name", "data", "reason"), REFUSED, ids=[r[0] for r in REFUSED])
async def test_refused_files(
    client: httpx.AsyncClient, settings: Settings, name: str, data: bytes, reason: str
) -> None:
    account = await register(client)
    response = await upload(client, account["headers"], [("fine.jpg", images.jpeg()), (name, data)])
    body = assert_error(response, 400, "Invalid upload")
    assert name in body["description"]
    assert reason in body["description"]
    assert body["files"] == [{"name": name, "reason": body["files"][0]["reason"]}]
    assert counts(settings) == NOTHING
    assert stored_objects(settings) == []


async def test_file_over_the_size_limit_is_413(
    client: httpx.AsyncClient, tmp_path: Path, clean_database: str
) -> None:
    small = make_settings(tmp_path, database_url=clean_database, upload_max_file_bytes=2048)
    async with client_for(small) as client:
        account = await register(client)
        response = await upload(client, account["headers"], [("big.jpg", images.jpeg(400, 300))])
        assert "big.jpg" in assert_error(response, 413)["description"]
        # A body larger than every file allowed together is refused before it is read.
        huge = await upload(
            client, account["headers"], [("x.jpg", b"\xff\xd8\xff" + b"0" * 2_000_000)]
        )
        assert_error(huge, 413)
    assert counts(small) == NOTHING


async def test_too_many_files_and_no_files(
    client: httpx.AsyncClient, tmp_path: Path, clean_database: str
) -> None:
    few = make_settings(tmp_path, database_url=clean_database, upload_max_files=2)
    async with client_for(few) as client:
        account = await register(client)
        three = [(f"{i}.jpg", images.jpeg()) for i in range(3)]
        assert_error(await upload(client, account["headers"], three), 400)
        none = await client.post("/upload", data={"group": "g"}, headers=account["headers"])
        assert "files" in assert_error(none, 400)["description"]
        text = await client.post("/upload", data={"files": "x"}, headers=account["headers"])
        assert_error(text, 400)
    assert counts(few) == NOTHING


async def test_bad_group_and_no_login(client: httpx.AsyncClient, settings: Settings) -> None:
    account = await register(client)
    for group in ("g" * 201, "bad\x00group"):
        response = await upload(client, account["headers"], [("a.jpg", images.jpeg())], group)
        assert "group" in assert_error(response, 400)["description"]
    assert_error(await upload(client, {}, [("a.jpg", images.jpeg())]), 401)
    assert counts(settings) == NOTHING


async def test_a_storage_failure_leaves_nothing_behind(
    client: httpx.AsyncClient, app: FastAPI, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    account = await register(client)
    storage = app.state.services.storage
    real_put, calls = storage.put, []

    def failing_put(key: str, data: object) -> None:
        calls.append(key)
        if len(calls) == 2:
            raise OSError("disk full")
        real_put(key, data)

    monkeypatch.setattr(storage, "put", failing_put)
    files = [("a.jpg", images.jpeg()), ("b.jpg", images.jpeg()), ("c.jpg", images.jpeg())]
    assert_error(await upload(client, account["headers"], files), 500)
    assert counts(settings) == NOTHING
    assert stored_objects(settings) == []


# --- Who sees what --------------------------------------------------------------------------


async def test_other_users_see_nothing_admins_see_all(
    client: httpx.AsyncClient, app: FastAPI, settings: Settings
) -> None:
    from imagehub.accounts.models import Role

    owner, stranger, admin = await register(client), await register(client), await register(client)
    await promote(app, admin["user"]["email"], Role.ADMIN)
    task_id = (await upload(client, owner["headers"], [("a.jpg", images.jpeg())])).json()["task_id"]
    process_all(settings, task_id)
    owner_id = owner["user"]["id"]
    paths = [
        f"/status/{task_id}",
        f"/task/{task_id}",
        f"/task/{task_id}/files/a_original.jpg",
        f"/history/{owner_id}",
    ]
    for path in paths:
        assert_error(await client.get(path, headers=stranger["headers"]), 404)
        assert (await client.get(path, headers=admin["headers"])).status_code == 200, path
        assert (await client.get(path, headers=owner["headers"])).status_code == 200, path
    assert_error(await client.get(f"/status/{uuid.uuid4()}", headers=owner["headers"]), 404)
    assert_error(await client.get("/status/not-a-uuid", headers=owner["headers"]), 400)
    missing = await client.get(f"/task/{task_id}/files/zzz_original.jpg", headers=owner["headers"])
    assert_error(missing, 404)


async def test_history_is_newest_first_and_paged(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    account = await register(client)
    headers, user_id = account["headers"], account["user"]["id"]
    for batch in range(3):
        files = [(f"b{batch}-{i}.png", images.png(8, 8)) for i in range(2)]
        process_all(settings, (await upload(client, headers, files)).json()["task_id"])
    seen: list[str] = []
    url = f"/history/{user_id}?limit=4"
    while url:
        page = await client.get(url, headers=headers)
        assert page.status_code == 200
        seen += [image["name"] for image in page.json()]
        assert all(image["state"] == "done" and image["links"]["gray"] for image in page.json())
        link = page.headers.get("link")
        url = link.split(">")[0].lstrip("<").replace("http://testserver", "") if link else ""
        if link:
            assert page.headers["x-next-cursor"] in link
    assert len(seen) == 6
    assert len(set(seen)) == 6
    assert set(seen[:2]) == {"b2-0.png", "b2-1.png"}  # one upload shares a timestamp
    assert set(seen[4:]) == {"b0-0.png", "b0-1.png"}
    for cursor in ("garbage", "eyJ4IjoxfQ", "WyJvdGhlciIsMV0"):
        response = await client.get(f"/history/{user_id}?cursor={cursor}", headers=headers)
        assert_error(response, 400, "Invalid cursor")
    assert_error(await client.get(f"/history/{user_id}?limit=0", headers=headers), 400)
    assert_error(await client.get(f"/history/{user_id}?limit=201", headers=headers), 400)


async def test_the_whole_flow_on_s3(
    tmp_path: Path, clean_database: str, moto_s3: str, s3_bucket: str
) -> None:
    """Originals and variants in an S3 bucket (moto's server), zip streamed from it."""
    from tests.conftest import s3_settings

    settings = s3_settings(
        tmp_path, moto_s3, s3_bucket, database_url=clean_database, broker_url="memory://"
    )
    async with client_for(settings) as client:
        account = await register(client)
        files = [("a.jpg", images.jpeg()), ("b.png", images.png())]
        task_id = (await upload(client, account["headers"], files)).json()["task_id"]
        assert process_all(settings, task_id) == ["done", "done"]
        archive = await client.get(f"/task/{task_id}", headers=account["headers"])
        assert archive.status_code == 200
        names = zipfile.ZipFile(io.BytesIO(archive.content)).namelist()
        assert len(names) == 8
        gray = await client.get(f"/task/{task_id}/files/b_gray.png", headers=account["headers"])
        assert Image.open(io.BytesIO(gray.content)).mode == "L"
    assert stored_objects(settings) == []  # nothing went to the local folder


async def test_the_zip_streams_in_flat_memory(
    client: httpx.AsyncClient, app: FastAPI, settings: Settings
) -> None:
    """A task's zip is read and sent piece by piece: memory does not follow its size.
    (tracemalloc sees Python's allocations: the chunks and the zip writer's buffers.)"""
    import os
    import tracemalloc

    from imagehub.processing import service

    account = await register(client)
    noise = images.encode(Image.frombytes("L", (1600, 1600), os.urandom(1600 * 1600)), "PNG")
    files = [(f"n{i}.png", noise) for i in range(12)]  # ~31 MB of originals
    task_id = (await upload(client, account["headers"], files)).json()["task_id"]
    engine_settings = settings.model_copy(update={"png_compress_level": 0})
    process_all(engine_settings, task_id)  # variants stored uncompressed: ~100 MB in all
    viewer = service.Viewer(uuid.UUID(account["user"]["id"]), is_admin=False)
    async with app.state.services.database.transaction() as session:
        archive = await service.task_zip(
            session, app.state.services.storage, viewer, uuid.UUID(task_id)
        )
    tracemalloc.start()
    sent = 0
    for chunk in archive.chunks:
        sent += len(chunk)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert sent == archive.size > 90_000_000
    assert peak < 8 * 1024 * 1024, f"peak {peak / 1e6:.1f} MB while streaming {sent / 1e6:.0f} MB"
