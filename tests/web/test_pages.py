"""Who sees which page, and what every page is sent with (no browser needed)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from imagehub.accounts import service as accounts
from imagehub.accounts.models import Role
from tests.conftest import promote, register

PAGES = ["upload", "history", "moderation", "statistics", "repos"]


async def signed_in(client: httpx.AsyncClient, app: FastAPI, role: Role) -> dict[str, Any]:
    account = await register(client)
    if role is not Role.USER:
        await promote(app, account["user"]["email"], role)
    response = await client.post(
        "/session", json={"email": account["user"]["email"], "password": account["password"]}
    )
    assert response.status_code == 200
    return dict(response.json())


@pytest.mark.parametrize("page", PAGES)
async def test_signed_out_goes_to_sign_in_and_comes_back(
    client: httpx.AsyncClient, page: str
) -> None:
    response = await client.get(f"/app/{page}")
    assert response.status_code == 303
    assert response.headers["location"] == f"/app/sign-in?next=/app/{page}"


async def test_each_role_sees_its_pages(client: httpx.AsyncClient, app: FastAPI) -> None:
    session = await signed_in(client, app, Role.USER)
    for page in ("upload", "history", "repos"):
        response = await client.get(f"/app/{page}")
        assert response.status_code == 200, page
        # The page carries the session's CSRF token for its scripts, and the menu shows
        # only what this role may open.
        assert f'<meta name="csrf-token" content="{session["csrf_token"]}">' in response.text
        assert 'href="/app/moderation"' not in response.text
    for page in ("moderation", "statistics"):
        response = await client.get(f"/app/{page}")
        assert response.status_code == 403
        assert "needs the <strong>moderator</strong> role" in response.text

    await signed_in(client, app, Role.MODERATOR)  # the cookie is now a moderator's
    for page in PAGES:
        response = await client.get(f"/app/{page}")
        assert response.status_code == 200, page
        assert 'href="/app/moderation"' in response.text
        assert 'id="track-form"' not in response.text  # tracking GitHub users is admin work

    await signed_in(client, app, Role.ADMIN)
    assert 'id="track-form"' in (await client.get("/app/repos")).text


async def test_headers_names_and_unknown_pages(client: httpx.AsyncClient, app: FastAPI) -> None:
    account = await register(client)
    async with app.state.services.database.transaction() as session:
        user = await accounts.find_by_email(session, account["user"]["email"])
        user.first_name = "<script>alert(1)</script>"
    await client.post(
        "/session", json={"email": account["user"]["email"], "password": account["password"]}
    )
    response = await client.get("/app/upload")
    assert "<script>alert(1)</script>" not in response.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in response.text
    assert "script-src 'self'" in response.headers["content-security-policy"]
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["cache-control"] == "no-store"
    assert (await client.get("/app/no-such-page")).status_code == 404
    assert (await client.get("/")).headers["location"] == "/app/upload"
    sign_in = await client.get("/app/sign-in")
    assert sign_in.status_code == 200
    assert "You are signed in" in sign_in.text


async def test_a_stale_cookie_is_signed_out(client: httpx.AsyncClient) -> None:
    client.cookies.set("imagehub_session", "expired-or-forged")
    response = await client.get("/app/history")
    assert response.status_code == 303
    sign_in = await client.get("/app/sign-in")
    assert 'content=""' in sign_in.text  # no CSRF token for a session that is not one
    assert "You are signed in" not in sign_in.text
