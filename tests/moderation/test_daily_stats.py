"""Trends: per UTC day, what was added and what was decided, and the backlog now."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
from fastapi import FastAPI

from tests.conftest import assert_error
from tests.moderation.test_moderation import add, staff


async def test_days_in_order_with_their_counts_and_the_backlog(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    moderator = await staff(client, app)
    now = datetime.now(UTC)
    three_days_ago = (now - timedelta(days=3)).replace(hour=12, minute=0, second=0)
    items = [
        {"group": "g", "url": f"https://x.io/old-{n}.jpg", "created_at": three_days_ago.isoformat()}
        for n in range(4)
    ] + [{"group": "g", "url": f"https://x.io/new-{n}.jpg"} for n in range(3)]
    images = await add(client, moderator, items)
    for image, status in zip(images[:3], ("accepted", "deleted", "review"), strict=True):
        changed = await client.put(
            f"/images/{image['id']}", headers=moderator, json={"status": status}
        )
        assert changed.status_code == 200

    answer = await client.get("/images/stats/daily?days=7", headers=moderator)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    days = body["days"]
    assert [d["date"] for d in days] == [
        (now - timedelta(days=n)).date().isoformat() for n in range(6, -1, -1)
    ]
    by_date = {d["date"]: d for d in days}
    old, today = by_date[three_days_ago.date().isoformat()], by_date[now.date().isoformat()]
    # Created three days ago: four, as they stand now (three were decided today).
    assert old["created"] == {"new": 1, "review": 1, "accepted": 1, "deleted": 1}
    # Their last change was today; the old untouched one's was its creation.
    assert old["changed"] == {"new": 1, "review": 0, "accepted": 0, "deleted": 0}
    assert today["created"] == {"new": 3, "review": 0, "accepted": 0, "deleted": 0}
    assert today["changed"] == {"new": 3, "review": 1, "accepted": 1, "deleted": 1}
    quiet = [d for d in days if d["date"] not in (old["date"], today["date"])]
    assert all(sum(d["created"].values()) == sum(d["changed"].values()) == 0 for d in quiet)
    assert body["backlog"] == 1 + 1 + 3  # new and review, whenever they came
    # The same figures as the statistics over the whole range.
    created = (await client.get("/statistics?days=7", headers=moderator)).json()
    assert {s: sum(d["created"][s] for d in days) for s in created} == created

    assert len((await client.get("/images/stats/daily", headers=moderator)).json()["days"]) == 30
    for bad in ("0", "3651", "x", "1.5"):
        assert_error(await client.get(f"/images/stats/daily?days={bad}", headers=moderator), 400)
