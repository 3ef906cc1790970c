"""The web pages' session: the token in an HttpOnly cookie, CSRF on unsafe methods."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from imagehub.accounts.dependencies import SESSION_COOKIE
from tests.conftest import assert_error, register


async def open_session(client: httpx.AsyncClient, account: dict[str, Any]) -> dict[str, Any]:
    response = await client.post(
        "/session", json={"email": account["user"]["email"], "password": account["password"]}
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


async def test_cookie_session_reads_and_writes_with_the_csrf_header(
    client: httpx.AsyncClient,
) -> None:
    account = await register(client)
    response = await client.post(
        "/session", json={"email": account["user"]["email"], "password": account["password"]}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert "access_token" not in body  # scripts never see the token
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"{SESSION_COOKIE}=")
    for attribute in ("HttpOnly", "SameSite=strict", "Path=/", "Max-Age=3600"):
        assert attribute.lower() in cookie.lower()
    assert "secure" not in cookie.lower()  # plain http here: a Secure cookie would be lost

    me = await client.get("/users/me")  # the cookie alone is enough to read
    assert me.status_code == 200
    assert me.json()["email"] == account["user"]["email"]

    # Writing needs the CSRF token too: a cross-site form or fetch cannot know it.
    files = {"files": ("a.png", b"not really a png", "image/png")}
    assert_error(await client.post("/upload", files=files), 403)
    wrong = {"X-CSRF-Token": "A" * 43}
    assert_error(await client.post("/upload", files=files, headers=wrong), 403)
    right = {"X-CSRF-Token": body["csrf_token"]}
    refused = await client.post("/upload", files=files, headers=right)
    assert_error(refused, 400)  # past auth: the file itself is what is refused

    # Signing out needs it as well, then the cookie is gone.
    assert_error(await client.delete("/session"), 403)
    response = await client.delete("/session", headers=right)
    assert response.status_code == 204
    assert f'{SESSION_COOKIE}=""' in response.headers["set-cookie"]
    assert_error(await client.get("/users/me"), 401)


async def test_a_bearer_token_needs_no_csrf_header(client: httpx.AsyncClient) -> None:
    account = await register(client)
    files = {"files": ("a.png", b"not really a png", "image/png")}
    response = await client.post("/upload", files=files, headers=account["headers"])
    assert_error(response, 400)


async def test_one_users_csrf_token_does_not_fit_another_session(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    first, second = await register(client), await register(client)
    first_csrf = (await open_session(client, first))["csrf_token"]
    await open_session(client, second)  # the browser now holds the second user's cookie
    files = {"files": ("a.png", b"x", "image/png")}
    refused = await client.post("/upload", files=files, headers={"X-CSRF-Token": first_csrf})
    assert_error(refused, 403)


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("text/plain", '{"email": "a@example.com", "password": "correct horse battery"}'),
        ("application/x-www-form-urlencoded", "email=a%40example.com&password=x"),
    ],
)
async def test_session_takes_json_only(
    client: httpx.AsyncClient, content_type: str, body: str
) -> None:
    """A cross-site form can send text/plain or a form, never JSON without a preflight."""
    await register(client, email="a@example.com")
    response = await client.post("/session", content=body, headers={"content-type": content_type})
    assert_error(response, 400)
    assert "set-cookie" not in response.headers


async def test_wrong_password_and_expired_cookie(client: httpx.AsyncClient) -> None:
    account = await register(client)
    response = await client.post(
        "/session", json={"email": account["user"]["email"], "password": "wrong password!"}
    )
    assert_error(response, 401)
    assert "set-cookie" not in response.headers
    client.cookies.set(SESSION_COOKIE, "not-a-token")
    assert_error(await client.get("/users/me"), 401)


async def test_over_https_the_cookie_is_secure(app: FastAPI) -> None:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as client:
        account = await register(client)
        response = await client.post(
            "/session", json={"email": account["user"]["email"], "password": account["password"]}
        )
    assert response.status_code == 200
    assert "; secure" in response.headers["set-cookie"].lower()
