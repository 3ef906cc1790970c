"""One request decides up to 500 images: one transaction, every change recorded as a single
change would be, all or nothing."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from imagehub.accounts.models import Role
from tests.conftest import assert_error, register, statements_of
from tests.moderation.test_moderation import add, staff


async def _images(client: httpx.AsyncClient, moderator: dict[str, str], count: int) -> list[int]:
    items = [{"group": "bulk", "url": f"https://x.io/{n}.jpg"} for n in range(count)]
    ids: list[int] = []
    for start in range(0, count, 1000):
        ids += [image["id"] for image in await add(client, moderator, items[start : start + 1000])]
    return ids


async def _statuses(client: httpx.AsyncClient, moderator: dict[str, str]) -> dict[str, int]:
    stats: dict[str, int] = (await client.get("/images/stats/?days=1", headers=moderator)).json()
    return stats


async def test_five_hundred_at_once_each_recorded(client: httpx.AsyncClient, app: FastAPI) -> None:
    moderator = await staff(client, app)
    ids = await _images(client, moderator, 600)
    body = {"ids": ids[:500], "status": "accepted"}
    answer = await client.put("/images/status", headers=moderator, json=body)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"updated": 500}
    assert await _statuses(client, moderator) == {
        "new": 100,
        "review": 0,
        "accepted": 500,
        "deleted": 0,
    }
    changes = (await client.get(f"/images/{ids[0]}/history", headers=moderator)).json()
    assert [(c["from_status"], c["to_status"]) for c in changes] == [("new", "accepted")]
    # Ids as text and repeated are the same ids.
    again = {"ids": [str(ids[500]), ids[500], ids[501]], "status": "review"}
    assert (await client.put("/images/status", headers=moderator, json=again)).json() == {
        "updated": 2
    }


async def test_one_bad_id_refuses_them_all_and_names_it(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    moderator = await staff(client, app)
    ids = await _images(client, moderator, 5)
    before = await _statuses(client, moderator)
    unknown = ids[-1] + 1000
    missing = await client.put(
        "/images/status", headers=moderator, json={"ids": [*ids, unknown], "status": "deleted"}
    )
    error = assert_error(missing, 404, "Image not found")
    assert error["ids"] == [unknown]
    assert str(unknown) in error["description"]
    for bad in (["abc"], [0], [2**63], [1.5], [True], [-3]):
        refused = await client.put(
            "/images/status", headers=moderator, json={"ids": [*ids, *bad], "status": "deleted"}
        )
        assert refused.status_code == 400, (bad, refused.text)
    named = await client.put(
        "/images/status", headers=moderator, json={"ids": [ids[0], "abc", "0"], "status": "new"}
    )
    assert assert_error(named, 400, "Invalid id")["ids"] == ["abc", "0"]
    for body in ({"ids": [], "status": "new"}, {"ids": list(range(1, 502)), "status": "new"},
                 {"ids": ids, "status": "gone"}, {"ids": ids}):  # fmt: skip
        assert (await client.put("/images/status", headers=moderator, json=body)).status_code == 400
    assert await _statuses(client, moderator) == before  # nothing half-applied
    user = await register(client)
    forbidden = await client.put(
        "/images/status", headers=user["headers"], json={"ids": ids, "status": "new"}
    )
    assert_error(forbidden, 403)


async def test_a_fixed_number_of_statements_whatever_the_number_of_images(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    moderator = await staff(client, app, Role.ADMIN)
    ids = await _images(client, moderator, 500)
    with statements_of(app) as statements:
        sizes = {}
        for n, status in ((5, "review"), (500, "accepted")):
            statements.clear()
            body = {"ids": ids[:n], "status": status}
            assert (await client.put("/images/status", headers=moderator, json=body)).is_success
            sizes[n] = len(statements)
    assert sizes[5] == sizes[500] <= 12, sizes
