"""Moderation through the API: groups, statuses, history, statistics, the upload hook."""

from __future__ import annotations

import asyncio
import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI

from imagehub.accounts.models import Role
from imagehub.core.config import Settings
from imagehub.core.db import Database, create_engine
from imagehub.moderation import service as moderation
from imagehub.moderation.models import Image
from tests.conftest import assert_error, promote, register, statements_of

STATUSES = {"new", "review", "accepted", "deleted"}


async def staff(
    client: httpx.AsyncClient, app: FastAPI, role: Role = Role.MODERATOR
) -> dict[str, str]:
    account = await register(client)
    await promote(app, account["user"]["email"], role)
    headers: dict[str, str] = account["headers"]
    return headers


async def add(
    client: httpx.AsyncClient, headers: dict[str, str], items: Any
) -> list[dict[str, Any]]:
    response = await client.post("/images", json=items, headers=headers)
    assert response.status_code == 201, response.text
    body: list[dict[str, Any]] = response.json()
    return body


def set_times(settings: Settings, image_id: int, **moments: datetime) -> None:
    """Put an image's timestamps where a test needs them (the API never moves them back)."""
    database = Database(settings.effective_database_url)
    with database.transaction() as session:
        session.execute(sa.update(Image).where(Image.id == image_id).values(**moments))
    # Written behind the service's back, so its day counts are rebuilt, as an operator would.
    with database.transaction() as session:
        moderation.recount(session)
    database.dispose()


async def test_staff_only(client: httpx.AsyncClient, app: FastAPI) -> None:
    user = (await register(client))["headers"]
    moderator = await staff(client, app)
    admin = await staff(client, app, Role.ADMIN)
    # Ids come from a sequence that other tests have moved on: ask for the real one.
    image_id = (await add(client, moderator, {"group": "g", "url": "https://example.com/a.jpg"}))[
        0
    ]["id"]
    routes = [
        ("GET", "/groups", None),
        ("GET", "/images/groups/", None),
        ("GET", "/images/stats/", None),
        ("GET", "/statistics", None),
        ("POST", "/images", {"group": "g", "url": "https://example.com/a.jpg"}),
        ("PUT", "/images/", {"id": image_id, "status": "review"}),
        ("PUT", f"/images/{image_id}", {"status": "review"}),
        ("GET", f"/images/{image_id}", None),
        ("GET", f"/images/{image_id}/history", None),
    ]
    for method, path, body in routes:
        assert_error(await client.request(method, path, json=body), 401)
        assert_error(await client.request(method, path, json=body, headers=user), 403)
    for headers in (moderator, admin):
        for method, path, body in routes:
            response = await client.request(method, path, json=body, headers=headers)
            assert response.status_code in (200, 201, 204), (path, response.text)


async def test_register_images_idempotently(client: httpx.AsyncClient, app: FastAPI) -> None:
    moderator = await staff(client, app)
    one = await add(client, moderator, {"group": "cats", "url": "https://example.com/1.jpg"})
    assert one[0]["group"] == "cats"
    assert one[0]["status"] == "new"
    assert one[0]["created_at"] == one[0]["changed_at"]
    batch = [
        {"group": "cats", "url": "https://example.com/1.jpg"},  # known: returned as is
        {
            "group": "dogs",
            "url": "https://example.com/2.jpg",
            "status": "review",
            "created_at": "2026-01-02T03:04:05Z",
        },
        {"group": "dogs", "url": "http://example.com/3.jpg"},
    ]
    images = await add(client, moderator, batch)
    assert images[0]["id"] == one[0]["id"]
    assert images[1]["status"] == "review"
    assert images[1]["created_at"] == "2026-01-02T03:04:05Z"
    again = await add(client, moderator, batch)
    assert [i["id"] for i in again] == [i["id"] for i in images]
    groups = (await client.get("/groups", headers=moderator)).json()
    assert [(g["name"], g["total"]) for g in groups] == [("dogs", 2), ("cats", 1)]


@pytest.mark.parametrize(
    "body",
    [
        {"group": "g", "url": "ftp://example.com/a.jpg"},
        {"group": "g", "url": "javascript:alert(1)"},
        {"group": "g", "url": "not a url"},
        {"group": "", "url": "https://example.com/a.jpg"},
        {"group": "g" * 201, "url": "https://example.com/a.jpg"},
        {"group": "g", "url": "https://example.com/a.jpg", "status": "approved"},
        {"group": "g", "url": "https://example.com/a.jpg", "extra": 1},
        [],
        [{"group": "g", "url": f"https://example.com/{i}.jpg"} for i in range(1001)],
    ],
)
async def test_register_refuses_bad_input(
    client: httpx.AsyncClient, app: FastAPI, body: Any
) -> None:
    moderator = await staff(client, app)
    assert_error(await client.post("/images", json=body, headers=moderator), 400)


async def test_groups_shape_order_and_filter(
    client: httpx.AsyncClient, app: FastAPI, settings: Settings
) -> None:
    moderator = await staff(client, app)
    a = await add(
        client, moderator, [{"group": "a", "url": f"https://x.io/a{i}.jpg"} for i in range(3)]
    )
    b = await add(
        client, moderator, [{"group": "b", "url": f"https://x.io/b{i}.jpg"} for i in range(2)]
    )
    now = datetime.now(UTC)
    # a0 oldest by creation but changed last.
    set_times(
        settings, a[0]["id"], created_at=now - timedelta(days=3), changed_at=now - timedelta(days=3)
    )
    set_times(
        settings, a[1]["id"], created_at=now - timedelta(days=2), changed_at=now - timedelta(days=2)
    )
    set_times(
        settings, a[2]["id"], created_at=now - timedelta(days=1), changed_at=now - timedelta(days=1)
    )
    assert (
        await client.put(f"/images/{a[0]['id']}", json={"status": "review"}, headers=moderator)
    ).status_code == 200

    by_change = (await client.get("/groups", headers=moderator)).json()
    assert [g["name"] for g in by_change] == ["b", "a"]  # newest group first
    group_a = by_change[1]
    assert set(group_a) == {"id", "name", "count", "total", "images"}
    assert set(group_a["images"][0]) == {
        "id",
        "url",
        "thumbnail_url",
        "upload",
        "status",
        "created_at",
        "changed_at",
    }
    assert [i["id"] for i in group_a["images"]] == [a[0]["id"], a[2]["id"], a[1]["id"]]
    by_creation = (await client.get("/images/groups/", headers=moderator)).json()
    assert [i["id"] for i in by_creation[1]["images"]] == [a[2]["id"], a[1]["id"], a[0]["id"]]
    switched = (await client.get("/groups?sort=created_at", headers=moderator)).json()
    assert switched[1]["images"] == by_creation[1]["images"]

    review = (await client.get("/groups?status=review", headers=moderator)).json()
    assert [(g["name"], g["count"], g["total"]) for g in review] == [("a", 1, 3)]
    assert (await client.get("/images/groups/?status=deleted", headers=moderator)).json() == []
    del b

    body = assert_error(
        await client.get("/groups?status=approved", headers=moderator), 400, "Invalid status"
    )
    assert all(s in body["description"] for s in STATUSES)
    assert_error(await client.get("/groups?sort=name", headers=moderator), 400)
    assert_error(await client.get("/groups?limit=0", headers=moderator), 400)
    assert_error(await client.get("/groups?limit=201", headers=moderator), 400)


async def test_pages_are_stable_while_groups_are_added(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    moderator = await staff(client, app)
    await add(
        client,
        moderator,
        [{"group": f"g{i:02d}", "url": f"https://x.io/{i}.jpg"} for i in range(7)],
    )
    seen: list[str] = []
    url = "/groups?limit=3"
    added = 0
    while url:
        page = await client.get(url, headers=moderator)
        assert page.status_code == 200
        seen += [g["name"] for g in page.json()]
        # New groups and images arrive between pages: they must not shift what follows.
        await add(
            client,
            moderator,
            [
                {"group": f"late{added}", "url": "https://x.io/l.jpg"},
                {"group": "g00", "url": f"https://x.io/more{added}.jpg"},
            ],
        )
        added += 1
        link = page.headers.get("link")
        if link:
            assert page.headers["x-next-cursor"] in link
            url = link.split(">")[0].lstrip("<").replace("http://testserver", "")
        else:
            assert "x-next-cursor" not in page.headers
            url = ""
    assert seen == [f"g{i:02d}" for i in reversed(range(7))]


async def test_forged_and_foreign_cursors(client: httpx.AsyncClient, app: FastAPI) -> None:
    moderator = await staff(client, app)
    await add(
        client, moderator, [{"group": f"g{i}", "url": "https://x.io/a.jpg"} for i in range(3)]
    )
    cursor = (await client.get("/groups?limit=1", headers=moderator)).headers["x-next-cursor"]
    assert (await client.get(f"/groups?cursor={cursor}", headers=moderator)).status_code == 200
    for bad in ("garbage", cursor[:-2], cursor + "x", "WyJncm91cHM6KjpjaGFuZ2VkX2F0IiwiMSJd"):
        assert_error(await client.get(f"/groups?cursor={bad}", headers=moderator), 400)
    # A cursor of one listing is refused by another (other filter or order).
    assert_error(await client.get(f"/groups?status=new&cursor={cursor}", headers=moderator), 400)
    assert_error(await client.get(f"/images/groups/?cursor={cursor}", headers=moderator), 400)


async def test_a_fixed_number_of_queries_whatever_the_page_size(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    moderator = await staff(client, app)
    items = [
        {"group": f"g{i}", "url": f"https://x.io/{j}.jpg"} for i in range(30) for j in range(3)
    ]
    await add(client, moderator, items)
    with statements_of(app) as statements:
        sizes = {}
        for limit in (2, 25):
            for path in ("/groups", "/groups?status=new", "/images/groups/"):
                statements.clear()
                response = await client.get(
                    f"{path}{'&' if '?' in path else '?'}limit={limit}", headers=moderator
                )
                assert len(response.json()) == limit
                sizes[(path, limit)] = len(
                    [s for s in statements if s.lstrip().upper().startswith("SELECT")]
                )
    for path in ("/groups", "/groups?status=new", "/images/groups/"):
        assert sizes[(path, 2)] == sizes[(path, 25)] <= 4, sizes


async def test_status_changes_by_path_and_by_body(client: httpx.AsyncClient, app: FastAPI) -> None:
    moderator = await staff(client, app)
    image = (await add(client, moderator, {"group": "g", "url": "https://x.io/a.jpg"}))[0]
    path_response = await client.put(
        f"/images/{image['id']}", json={"status": "review"}, headers=moderator
    )
    assert path_response.status_code == 200
    assert path_response.json() == {"message": "Image status updated"}
    body_response = await client.put(
        "/images/", json={"id": str(image["id"]), "status": "accepted"}, headers=moderator
    )
    assert body_response.status_code == 204
    assert body_response.content == b""
    now = (await client.get(f"/images/{image['id']}", headers=moderator)).json()
    assert now["status"] == "accepted"
    assert now["changed_at"] > image["changed_at"]
    history = (await client.get(f"/images/{image['id']}/history", headers=moderator)).json()
    assert [(h["from_status"], h["to_status"]) for h in history] == [
        ("new", "review"),
        ("review", "accepted"),
    ]
    assert all(h["changed_by"].endswith("@example.com") for h in history)


@pytest.mark.parametrize("bad_id", ["abc", "0", "-1", "1.5", str(2**63), "9" * 30, "\uff11\uff12"])
async def test_malformed_ids(client: httpx.AsyncClient, app: FastAPI, bad_id: str) -> None:
    moderator = await staff(client, app)
    assert_error(await client.get(f"/images/{bad_id}", headers=moderator), 400, "Invalid id")
    assert_error(
        await client.put(f"/images/{bad_id}", json={"status": "new"}, headers=moderator), 400
    )
    assert_error(
        await client.put("/images/", json={"id": bad_id, "status": "new"}, headers=moderator), 400
    )


async def test_unknown_ids_and_statuses(client: httpx.AsyncClient, app: FastAPI) -> None:
    moderator = await staff(client, app)
    image = (await add(client, moderator, {"group": "g", "url": "https://x.io/a.jpg"}))[0]
    missing = 2**63 - 1
    assert (
        "7"
        in assert_error(
            await client.get(f"/images/{missing}", headers=moderator), 404, "Image not found"
        )["description"]
    )
    assert_error(
        await client.put(f"/images/{missing}", json={"status": "new"}, headers=moderator), 404
    )
    assert_error(
        await client.put("/images/", json={"id": missing, "status": "new"}, headers=moderator), 404
    )
    assert_error(await client.get(f"/images/{missing}/history", headers=moderator), 404)
    for body in ({"status": "approved"}, {"status": ""}, {}, {"status": None}):
        response = await client.put(f"/images/{image['id']}", json=body, headers=moderator)
        assert_error(response, 400)
    listed = assert_error(
        await client.put(f"/images/{image['id']}", json={"status": "approved"}, headers=moderator),
        400,
        "Invalid status",
    )
    assert all(s in listed["description"] for s in STATUSES)
    assert_error(await client.put("/images/", json={"status": "new"}, headers=moderator), 400)


async def test_concurrent_changes_are_all_recorded_in_order(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    one, two = await staff(client, app), await staff(client, app)
    image = (await add(client, one, {"group": "g", "url": "https://x.io/a.jpg"}))[0]
    wanted = ["review", "accepted", "deleted", "review", "accepted", "new"]
    responses = await asyncio.gather(
        *(
            client.put(f"/images/{image['id']}", json={"status": s}, headers=(one, two)[i % 2])
            for i, s in enumerate(wanted)
        )
    )
    assert all(r.status_code == 200 for r in responses)
    history = (await client.get(f"/images/{image['id']}/history", headers=one)).json()
    assert len(history) == len(wanted)
    for earlier, later in itertools.pairwise(history):
        assert later["from_status"] == earlier["to_status"]  # a chain: none lost or crossed
        assert later["changed_at"] >= earlier["changed_at"]
    final = (await client.get(f"/images/{image['id']}", headers=one)).json()
    assert final["status"] == history[-1]["to_status"]
    assert final["changed_at"] == history[-1]["changed_at"]


async def test_statistics_either_side_of_the_boundary(
    client: httpx.AsyncClient, app: FastAPI, settings: Settings
) -> None:
    moderator = await staff(client, app)
    now = datetime.now(UTC)
    images = await add(
        client,
        moderator,
        [
            {"group": "g", "url": f"https://x.io/{i}.jpg", "status": status}
            for i, status in enumerate(["new", "review", "accepted", "deleted", "accepted"])
        ],
    )
    inside, outside = now - timedelta(days=29, hours=23), now - timedelta(days=30, minutes=5)
    # image 0: created long ago, changed inside the window; 1: created inside, changed outside.
    set_times(settings, images[0]["id"], created_at=outside, changed_at=inside)
    set_times(settings, images[1]["id"], created_at=inside, changed_at=inside)
    set_times(settings, images[2]["id"], created_at=outside, changed_at=outside)
    set_times(settings, images[3]["id"], created_at=inside, changed_at=inside)
    set_times(
        settings,
        images[4]["id"],
        created_at=now - timedelta(days=40),
        changed_at=now - timedelta(days=40),
    )
    by_change = (await client.get("/images/stats/?days=30", headers=moderator)).json()
    by_creation = (await client.get("/statistics", headers=moderator)).json()
    assert by_change == {"new": 1, "review": 1, "accepted": 0, "deleted": 1}
    assert by_creation == {"new": 0, "review": 1, "accepted": 0, "deleted": 1}
    wide = (await client.get("/images/stats/?days=3650", headers=moderator)).json()
    assert wide == {"new": 1, "review": 1, "accepted": 2, "deleted": 1}
    assert (await client.get("/statistics/?days=1", headers=moderator)).json() == dict.fromkeys(
        STATUSES, 0
    )
    for days in ("0", "3651", "x", "1.5", "-3", ""):
        for path in ("/images/stats/", "/statistics"):
            assert_error(await client.get(f"{path}?days={days}", headers=moderator), 400)


async def test_statistics_counts_stay_true_through_every_write(
    client: httpx.AsyncClient, app: FastAPI, settings: Settings
) -> None:
    """The day counts behind the statistics agree with counting the images directly, after
    inserts (new and repeated), status changes and a rebuild."""
    import random

    rng = random.Random(5)
    moderator = await staff(client, app)
    now = datetime.now(UTC)
    items = [
        {
            "group": f"g{i % 5}",
            "url": f"https://x.io/{i}.jpg",
            "status": rng.choice(sorted(STATUSES)),
            "created_at": (now - timedelta(days=rng.uniform(0, 60))).isoformat(),
        }
        for i in range(60)
    ]
    images = await add(client, moderator, items)
    await add(client, moderator, items[:10])  # repeats change nothing
    for image in rng.sample(images, 25):
        status = rng.choice(sorted(STATUSES))
        await client.put(f"/images/{image['id']}", json={"status": status}, headers=moderator)

    engine = create_engine(settings.effective_database_url)

    def direct(column: str, days: int) -> dict[str, int]:
        since = datetime.now(UTC) - timedelta(days=days)
        with engine.connect() as connection:
            rows = connection.execute(
                sa.select(Image.status, sa.func.count())
                .where(getattr(Image, column) >= since)
                .group_by(Image.status)
            )
            counted = {str(status): int(n) for status, n in rows}
        return {status: counted.get(status, 0) for status in STATUSES}

    for days in (1, 7, 30, 45, 3650):
        assert (
            await client.get(f"/images/stats/?days={days}", headers=moderator)
        ).json() == direct("changed_at", days)
        assert (await client.get(f"/statistics?days={days}", headers=moderator)).json() == direct(
            "created_at", days
        )
    engine.dispose()
