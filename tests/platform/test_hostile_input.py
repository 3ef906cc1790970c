"""Numbers, dates, cursors and URLs a hostile client sends: each a 400 naming the field,
never a 500 from the database, and nothing changed by a lenient reading."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from imagehub.accounts.models import Role
from imagehub.core.config import Settings
from imagehub.http.files import sign
from tests.conftest import assert_error, promote, register

TOO_BIG = str(2**63)


def cursor(*payload: Any) -> str:
    raw = json.dumps(list(payload), separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


async def signed_in(client: httpx.AsyncClient, app: FastAPI, role: Role) -> dict[str, str]:
    account = await register(client)
    await promote(app, account["user"]["email"], role)
    headers: dict[str, str] = account["headers"]
    return headers


async def test_github_ids_past_64_bits(client: httpx.AsyncClient, app: FastAPI) -> None:
    admin = await signed_in(client, app, Role.ADMIN)
    for method, path in [
        ("GET", f"/v1/users/{TOO_BIG}"),
        ("GET", f"/v1/users/{TOO_BIG}/repos"),
        ("GET", f"/v1/users/{TOO_BIG}/stats"),
        ("DELETE", f"/v1/users/{TOO_BIG}"),
        ("GET", "/v1/users/0"),
        ("GET", "/v1/users/+5"),
        ("GET", "/v1/users/1_0"),
        ("GET", "/v1/users/%EF%BC%93"),  # a full-width 3
    ]:
        response = await client.request(method, path, headers=admin)
        assert "user_id" in assert_error(response, 400)["fields"], path


async def test_dates_whose_arithmetic_leaves_the_calendar(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    user = (await register(client))["headers"]
    # The default start is 29 days before date_to: before year 1 here.
    response = await client.get("/v1/users/1/stats?date_to=0001-01-05", headers=user)
    assert assert_error(response, 400)["fields"] == ["date_to"]


@pytest.mark.parametrize("forged", [2**63, -(2**63) - 1, 0, True, 1.5, "7"])
async def test_group_cursors_holding_what_no_id_is(
    client: httpx.AsyncClient, app: FastAPI, forged: Any
) -> None:
    moderator = await signed_in(client, app, Role.MODERATOR)
    response = await client.get(
        "/groups", params={"cursor": cursor("groups:*:changed_at", forged)}, headers=moderator
    )
    assert_error(response, 400, "Invalid cursor")


async def test_history_cursor_past_year_9999_in_utc(client: httpx.AsyncClient) -> None:
    account = await register(client)
    forged = cursor("history", "9999-12-31T23:59:59-14:00", "00000000-0000-0000-0000-000000000000")
    response = await client.get(
        f"/history/{account['user']['id']}", params={"cursor": forged}, headers=account["headers"]
    )
    assert_error(response, 400, "Invalid cursor")


@pytest.mark.parametrize(
    ("created_at", "why"),
    [
        ("0001-01-01T00:00:00+14:00", "outside the years 1 to 9999"),
        ("9999-01-01T00:00:00Z", "in the future"),
    ],
)
async def test_image_timestamps_out_of_range(
    client: httpx.AsyncClient, app: FastAPI, created_at: str, why: str
) -> None:
    moderator = await signed_in(client, app, Role.MODERATOR)
    item = {"group": "g", "url": "https://example.com/a.jpg", "created_at": created_at}
    body = assert_error(await client.post("/images", json=item, headers=moderator), 400)
    assert body["fields"] == ["0.created_at"]  # the first (only) image's field
    assert why in body["description"]
    assert (await client.get("/groups", headers=moderator)).json() == []  # nothing stored


async def test_a_url_without_a_host_is_refused(client: httpx.AsyncClient, app: FastAPI) -> None:
    moderator = await signed_in(client, app, Role.MODERATOR)
    for url in ("https:///x", "http://", "https://user@/x.jpg"):
        response = await client.post("/images", json={"group": "g", "url": url}, headers=moderator)
        assert assert_error(response, 400)["fields"] == ["0.url"], url


@pytest.mark.parametrize("days", ["%201", "+5", "1_0", "%EF%BC%93", "%D9%A3", "1.0", "-1", "0"])
async def test_days_are_ascii_digits_in_range(
    client: httpx.AsyncClient, app: FastAPI, days: str
) -> None:
    moderator = await signed_in(client, app, Role.MODERATOR)
    for path in ("/images/stats/", "/statistics"):
        response = await client.get(f"{path}?days={days}", headers=moderator)
        assert assert_error(response, 400)["fields"] == ["days"], (path, days)


@pytest.mark.parametrize("bad_id", [True, 1.0, "1.0", " 1", "+1"])
async def test_a_json_boolean_or_float_is_no_image_id(
    client: httpx.AsyncClient, app: FastAPI, bad_id: Any
) -> None:
    moderator = await signed_in(client, app, Role.MODERATOR)
    image = (
        await client.post(
            "/images", json={"group": "g", "url": "https://example.com/1.jpg"}, headers=moderator
        )
    ).json()[0]
    response = await client.put(
        "/images/", json={"id": bad_id, "status": "accepted"}, headers=moderator
    )
    assert_error(response, 400)
    again = (await client.get(f"/images/{image['id']}", headers=moderator)).json()
    assert again["status"] == "new"  # unchanged


async def test_a_signed_key_that_climbs_out_is_not_found(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    secret = settings.url_signing_key()
    for key in ("tasks/../secret_key", "../imagehub.db", "tasks//x.jpg", "tasks/./x.jpg"):
        query = sign(key, 60, secret, now=time.time()).split("?", 1)[1]
        # Dots percent-encoded, so no client tidies the path before it is sent.
        path = "/files/" + "/".join(part.replace(".", "%2E") for part in key.split("/"))
        assert_error(await client.get(f"{path}?{query}"), 404, "File not found")
