"""A finished upload's originals land in moderation with URLs a browser can open."""

from __future__ import annotations

import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
from fastapi import FastAPI

from imagehub.core.config import Settings
from imagehub.http.files import LINK_BUCKET_SECONDS, sign
from tests.conftest import assert_error, client_for, make_settings, register, s3_settings
from tests.moderation.test_moderation import staff
from tests.processing import images
from tests.processing.conftest import process_all, upload


async def test_originals_enter_the_queue_with_signed_links(
    client: httpx.AsyncClient, app: FastAPI, settings: Settings
) -> None:
    owner = await register(client)
    moderator = await staff(client, app)
    files = [("a.jpg", images.jpeg()), ("b.png", images.png()), ("bad.jpg", images.corrupt_jpeg())]
    grouped = (await upload(client, owner["headers"], files, "holiday")).json()["task_id"]
    loose = (await upload(client, owner["headers"], [("c.jpg", images.jpeg())])).json()["task_id"]
    assert (await client.get("/groups", headers=moderator)).json() == []  # not before they finish
    process_all(settings, grouped)
    process_all(settings, loose)
    groups = {g["name"]: g for g in (await client.get("/groups", headers=moderator)).json()}
    assert set(groups) == {"holiday", f"uploads of user {owner['user']['id']}"}
    holiday = groups["holiday"]
    assert holiday["total"] == 2  # the damaged image was not processed, so not queued
    assert {i["status"] for i in holiday["images"]} == {"new"}
    link = holiday["images"][0]["url"]
    assert link.startswith("http://testserver/files/tasks/")
    opened = await client.get(link)  # no token: the signature is the permission
    assert opened.status_code == 200
    assert opened.content in (images.jpeg(), images.png())
    # Each has a thumbnail for the board, signed the same way; one registered by its URL
    # has none (the board shows the URL itself).
    for image in holiday["images"]:
        thumbnail = await client.get(image["thumbnail_url"])
        assert thumbnail.status_code == 200
        assert thumbnail.headers["content-type"] == "image/jpeg"
        assert "_thumbnail.jpg" in image["thumbnail_url"]
    registered = await client.post(
        "/images", headers=moderator, json={"group": "holiday", "url": "https://example.com/x.jpg"}
    )
    assert registered.status_code == 201, registered.text
    assert registered.json()[0]["thumbnail_url"] is None
    assert registered.json()[0]["upload"] is None
    # What a moderator judges an upload by: its name, its uploader, its size.
    uploads = {i["upload"]["name"]: i["upload"] for i in holiday["images"]}
    assert uploads["a.jpg"] == {
        "name": "a.jpg",
        "uploaded_by": owner["user"]["email"],
        "width": 40,
        "height": 30,
        "size_bytes": len(images.jpeg()),
    }
    one = (await client.get(f"/images/{holiday['images'][0]['id']}", headers=moderator)).json()
    assert one["thumbnail_url"].startswith("http://testserver/files/tasks/")

    parts = urlsplit(link)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    tampered = f"{parts.path}?expires={int(query['expires']) + 60}&signature={query['signature']}"
    assert_error(await client.get(tampered), 403)
    other_file = parts.path.replace("_original", "_gray")
    assert_error(await client.get(f"{other_file}?{parts.query}"), 403)
    key = parts.path.removeprefix("/files/")
    expired = sign(key, -10, settings.url_signing_key())
    assert "expired" in assert_error(await client.get(expired), 403)["description"]
    assert_error(await client.get(sign("tasks/nope.jpg", 60, settings.url_signing_key())), 404)


async def test_on_s3_the_links_are_presigned_for_the_public_host(
    tmp_path: Path, clean_database: str, moto_s3: str, s3_bucket: str
) -> None:
    settings = s3_settings(
        tmp_path,
        moto_s3,
        s3_bucket,
        database_url=clean_database,
        broker_url="memory://",
        storage_public_url=moto_s3.replace("127.0.0.1", "localhost"),
    )
    async with client_for(settings) as client:
        owner = await register(client)
        task = (await upload(client, owner["headers"], [("a.jpg", images.jpeg())], "s3")).json()
        process_all(settings, task["task_id"])
        app = client._transport.app  # type: ignore[attr-defined]  # the app behind the client
        moderator = await staff(client, app)
        url = (await client.get("/groups", headers=moderator)).json()[0]["images"][0]["url"]
        again = (await client.get("/groups", headers=moderator)).json()[0]["images"][0]["url"]
    assert again == url  # the same link within its hour: a browser's cache can hold it
    assert url.startswith(moto_s3.replace("127.0.0.1", "localhost") + f"/{s3_bucket}/tasks/")
    assert "X-Amz-Signature=" in url
    lifetime = int(parse_qs(urlsplit(url).query)["X-Amz-Expires"][0])
    assert 3600 <= lifetime <= 3600 + LINK_BUCKET_SECONDS  # at least the setting's hour
    async with httpx.AsyncClient() as browser:
        fetched = await browser.get(url)
    assert fetched.status_code == 200
    assert fetched.content == images.jpeg()


async def test_links_and_file_answers_are_made_to_be_cached(
    client: httpx.AsyncClient, app: FastAPI, settings: Settings
) -> None:
    owner = await register(client)
    moderator = await staff(client, app)
    task = (await upload(client, owner["headers"], [("a.jpg", images.jpeg(400, 300))])).json()
    process_all(settings, task["task_id"])
    first = (await client.get("/groups", headers=moderator)).json()[0]["images"][0]
    second = (await client.get("/groups", headers=moderator)).json()[0]["images"][0]
    assert (second["url"], second["thumbnail_url"]) == (first["url"], first["thumbnail_url"])
    expires = int(parse_qs(urlsplit(first["url"]).query)["expires"][0])
    assert expires % LINK_BUCKET_SECONDS == 0
    assert 3600 <= expires - time.time() <= 3600 + LINK_BUCKET_SECONDS

    # A signed link: anyone holding it may keep the file while the link lives.
    signed = await client.get(first["url"])
    assert signed.headers["cache-control"].startswith("public, max-age=")
    assert signed.headers["cache-control"].endswith(", immutable")
    assert int(signed.headers["cache-control"].split("=")[1].split(",")[0]) <= expires
    etag = signed.headers["etag"]
    assert etag.startswith('"')
    assert etag.endswith('"')
    unchanged = await client.get(first["url"], headers={"If-None-Match": etag})
    assert unchanged.status_code == 304
    assert unchanged.content == b""
    assert unchanged.headers["etag"] == etag

    # The owner's own files: private to their browser, ranges honoured.
    status = (await client.get(f"/status/{task['task_id']}", headers=owner["headers"])).json()
    link, whole = status["images"][0]["links"]["original"], images.jpeg(400, 300)
    owned = await client.get(link, headers=owner["headers"])
    assert owned.headers["cache-control"] == "private, no-cache"
    assert owned.headers["accept-ranges"] == "bytes"
    assert owned.content == whole
    asked = {"bytes=0-9": whole[:10], "bytes=10-": whole[10:], "bytes=-7": whole[-7:]}
    for header, expected in asked.items():
        part = await client.get(link, headers={**owner["headers"], "Range": header})
        assert part.status_code == 206, header
        assert part.content == expected, header
        start = (
            len(whole) - len(expected)
            if header.startswith("bytes=-")
            else int(header[6:].split("-")[0])
        )
        assert (
            part.headers["content-range"]
            == f"bytes {start}-{start + len(expected) - 1}/{len(whole)}"
        )
    outside = await client.get(link, headers={**owner["headers"], "Range": f"bytes={len(whole)}-"})
    assert_error(outside, 416)
    assert outside.headers["content-range"] == f"bytes */{len(whole)}"
    stale = {"Range": "bytes=0-9", "If-Range": '"another version"'}
    assert (await client.get(link, headers={**owner["headers"], **stale})).content == whole
    several = {"Range": "bytes=0-1,5-6"}  # not read: the whole file, as RFC 9110 allows
    assert (await client.get(link, headers={**owner["headers"], **several})).status_code == 200
    cached = await client.get(
        link, headers={**owner["headers"], "If-None-Match": owned.headers["etag"]}
    )
    assert cached.status_code == 304
    thumbnail = await client.get(
        status["images"][0]["links"]["thumbnail"], headers=owner["headers"]
    )
    assert thumbnail.headers["etag"] != owned.headers["etag"]


def test_signed_links_expire_and_bind_their_key(tmp_path: Path) -> None:
    secret = make_settings(tmp_path, secret_key="k" * 40).url_signing_key()
    other = make_settings(tmp_path, secret_key="z" * 40).url_signing_key()
    from imagehub.http.files import verify

    link = sign("tasks/x/a_original.jpg", 60, secret, now=1000)
    query = parse_qs(urlsplit(link).query)
    expires, signature = int(query["expires"][0]), query["signature"][0]
    assert verify("tasks/x/a_original.jpg", expires, signature, secret, now=1059) is None
    assert verify("tasks/x/a_original.jpg", expires, signature, secret, now=1061)
    assert verify("tasks/x/b_original.jpg", expires, signature, secret, now=1000)
    assert verify("tasks/x/a_original.jpg", expires, signature, other, now=1000)
    assert time.time() > 1061
