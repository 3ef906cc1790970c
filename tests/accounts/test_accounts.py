"""Registration, login and the current user, as a client and as an attacker would try."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import jwt
import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import FastAPI

from imagehub.accounts import service
from imagehub.core.config import Settings
from imagehub.run.api import create_app
from tests.conftest import TEST_SECRET, assert_error, client_for, make_settings, register


async def test_register_returns_token_and_user(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/registration",
        json={
            "email": "Ada@Example.COM",
            "password": "correct horse battery",
            "first_name": "Ada",
            "last_name": "Lovelace",
        },
    )
    assert response.status_code == 201
    body = response.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 3600
    user = body["user"]
    assert user["email"] == "ada@example.com"
    assert (user["first_name"], user["last_name"], user["role"]) == ("Ada", "Lovelace", "user")
    assert user["created_at"].endswith("Z")
    assert "password" not in user
    me = await client.get("/users/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.status_code == 200
    assert me.json() == {
        **user,
        "usage": {"bytes_stored": 0, "images_today": 0},
        "quotas": {"bytes_stored": None, "images_per_day": None},
    }


async def test_password_is_stored_hashed_with_argon2id(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    account = await register(client, "hash@example.com", "a secret password")
    async with app.state.services.database.transaction() as session:
        user = await service.find_by_email(session, "hash@example.com")
    assert user.password.startswith("$argon2id$")
    assert account["password"] not in user.password


async def test_role_in_registration_is_ignored(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/registration",
        json={"email": "mallory@example.com", "password": "password123", "role": "admin"},
    )
    assert response.status_code == 201
    assert response.json()["user"]["role"] == "user"


async def test_duplicate_email_in_another_case_is_a_conflict(client: httpx.AsyncClient) -> None:
    await register(client, "bob@example.com")
    response = await client.post(
        "/registration", json={"email": "  BOB@Example.com", "password": "password123"}
    )
    body = assert_error(response, 409)
    assert "already" in body["description"]


async def test_concurrent_twin_registrations_make_one_account(client: httpx.AsyncClient) -> None:
    payload = {"email": "twin@example.com", "password": "password123"}
    responses = await asyncio.gather(
        *(client.post("/registration", json=payload) for _ in range(4))
    )
    assert sorted(r.status_code for r in responses) == [201, 409, 409, 409]


async def test_login_with_json_and_with_the_oauth2_form(client: httpx.AsyncClient) -> None:
    account = await register(client, "carol@example.com", "password123")
    by_json = await client.post(
        "/login", json={"email": "CAROL@example.com", "password": "password123"}
    )
    by_form = await client.post(
        "/login", data={"username": "carol@example.com", "password": "password123"}
    )
    for response in (by_json, by_form):
        assert response.status_code == 200, response.text
        token = response.json()["access_token"]
        me = await client.get("/users/me", headers={"Authorization": f"Bearer {token}"})
        assert me.json()["id"] == account["user"]["id"]


async def test_unknown_email_and_wrong_password_answer_alike(client: httpx.AsyncClient) -> None:
    await register(client, "dave@example.com", "password123")
    wrong = await client.post("/login", json={"email": "dave@example.com", "password": "nope1234"})
    unknown = await client.post(
        "/login", json={"email": "nobody@example.com", "password": "nope1234"}
    )
    assert_error(wrong, 401)
    assert_error(unknown, 401)
    assert wrong.json() == unknown.json()
    assert wrong.headers["www-authenticate"] == unknown.headers["www-authenticate"] == "Bearer"


async def test_login_is_throttled_per_email_and_address(
    tmp_path: Path, clean_database: str
) -> None:
    settings = make_settings(tmp_path, database_url=clean_database, login_max_failures=3)
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 5000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        await register(client, "erin@example.com", "password123")
        await register(client, "frank@example.com", "password123")
        wrong = {"email": "erin@example.com", "password": "guess-000"}
        statuses = [(await client.post("/login", json=wrong)).status_code for _ in range(3)]
        assert statuses == [401, 401, 401]
        # Locked: even the right password is refused until the window passes.
        right = {"email": "erin@example.com", "password": "password123"}
        locked = await client.post("/login", json=right)
        body = assert_error(locked, 429)
        assert int(locked.headers["retry-after"]) > 800
        assert "try again" in body["description"]
        # Another account from the same address is not affected.
        other = await client.post(
            "/login", json={"email": "frank@example.com", "password": "password123"}
        )
        assert other.status_code == 200
    # The same account from another address is not affected either (the count is per pair).
    elsewhere = httpx.ASGITransport(app=app, client=("198.51.100.9", 5000))
    async with httpx.AsyncClient(transport=elsewhere, base_url="http://testserver") as client:
        assert (await client.post("/login", json=right)).status_code == 200
    await app.state.services.database.dispose()


async def test_parallel_guesses_cannot_exceed_the_limit(
    tmp_path: Path, clean_database: str
) -> None:
    settings = make_settings(tmp_path, database_url=clean_database, login_max_failures=3)
    async with client_for(settings) as client:
        await register(client, "grace@example.com", "password123")
        guesses = [
            client.post("/login", json={"email": "grace@example.com", "password": f"guess-{i}"})
            for i in range(10)
        ]
        statuses = sorted(r.status_code for r in await asyncio.gather(*guesses))
    assert statuses == [401] * 3 + [429] * 7


async def test_a_success_clears_the_failures(tmp_path: Path, clean_database: str) -> None:
    settings = make_settings(tmp_path, database_url=clean_database, login_max_failures=2)
    async with client_for(settings) as client:
        await register(client, "heidi@example.com", "password123")
        wrong = {"email": "heidi@example.com", "password": "wrong-pass"}
        right = {"email": "heidi@example.com", "password": "password123"}
        for _ in range(3):  # fail, succeed: never locked, however often it repeats
            assert (await client.post("/login", json=wrong)).status_code == 401
            assert (await client.post("/login", json=right)).status_code == 200


# --- Tokens -------------------------------------------------------------------------------


def _forge(claims: dict[str, object], key: str = TEST_SECRET, algorithm: str = "HS256") -> str:
    return jwt.encode(claims, key, algorithm=algorithm)


def _claims(user_id: str, **changes: object) -> dict[str, object]:
    now = int(datetime.now(UTC).timestamp())
    claims: dict[str, object] = {"sub": user_id, "iss": "imagehub", "iat": now, "exp": now + 300}
    claims.update(changes)
    return claims


def _b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


async def test_missing_and_malformed_credentials(client: httpx.AsyncClient) -> None:
    for headers in (
        {},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer not-a-token"},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"Authorization": "Bearer " + "a" * 5000},
    ):
        response = await client.get("/users/me", headers=headers)
        assert_error(response, 401)
        assert response.headers["www-authenticate"] == "Bearer"


async def test_expired_token(client: httpx.AsyncClient) -> None:
    account = await register(client)
    past = datetime.now(UTC) - timedelta(hours=2)
    token = _forge(_claims(account["user"]["id"], iat=past, exp=past + timedelta(hours=1)))
    response = await client.get("/users/me", headers={"Authorization": f"Bearer {token}"})
    assert "expired" in assert_error(response, 401)["description"]


async def test_tampered_token(client: httpx.AsyncClient) -> None:
    victim = await register(client)
    attacker = await register(client)
    header, _, signature = attacker["access_token"].split(".")
    payload = _b64(_claims(victim["user"]["id"]))
    response = await client.get(
        "/users/me", headers={"Authorization": f"Bearer {header}.{payload}.{signature}"}
    )
    assert_error(response, 401)


async def test_unsigned_token_with_alg_none(client: httpx.AsyncClient) -> None:
    account = await register(client)
    claims = _claims(account["user"]["id"])
    token = f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(claims)}."
    response = await client.get("/users/me", headers={"Authorization": f"Bearer {token}"})
    assert_error(response, 401)


async def test_token_signed_with_another_key(client: httpx.AsyncClient) -> None:
    account = await register(client)
    token = _forge(_claims(account["user"]["id"]), key="another-secret-" + "y" * 40)
    response = await client.get("/users/me", headers={"Authorization": f"Bearer {token}"})
    assert_error(response, 401)


async def test_token_without_expiry_or_with_a_bad_subject(client: httpx.AsyncClient) -> None:
    account = await register(client)
    no_exp = _claims(account["user"]["id"])
    del no_exp["exp"]
    for claims in (no_exp, _claims("not-a-uuid"), _claims(account["user"]["id"], iss="other")):
        token = _forge(claims)
        response = await client.get("/users/me", headers={"Authorization": f"Bearer {token}"})
        assert_error(response, 401)


async def test_token_of_a_deleted_user_stops_working(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    account = await register(client, "ivan@example.com")
    assert (await client.get("/users/me", headers=account["headers"])).status_code == 200
    async with app.state.services.database.transaction() as session:
        await service.delete(session, app.state.services.storage, "ivan@example.com")
    response = await client.get("/users/me", headers=account["headers"])
    assert "no longer exists" in assert_error(response, 401)["description"]


async def test_token_of_an_unknown_user(client: httpx.AsyncClient) -> None:
    token = _forge(_claims(str(uuid.uuid4())))
    response = await client.get("/users/me", headers={"Authorization": f"Bearer {token}"})
    assert_error(response, 401)


async def test_rs256_tokens_verify_with_the_public_key_only(
    tmp_path: Path, clean_database: str
) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    (tmp_path / "private.pem").write_bytes(private_pem)
    (tmp_path / "public.pem").write_bytes(public_pem)
    settings = make_settings(
        tmp_path,
        database_url=clean_database,
        secret_key=None,
        jwt_algorithm="RS256",
        jwt_private_key_file=tmp_path / "private.pem",
        jwt_public_key_file=tmp_path / "public.pem",
    )
    settings.check_production_ready()
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        account = await register(client)
        token = account["access_token"]
        assert jwt.get_unverified_header(token)["alg"] == "RS256"
        # Another service verifies with the public key alone.
        claims = jwt.decode(token, public_pem, algorithms=["RS256"], issuer="imagehub")
        assert claims["sub"] == account["user"]["id"]
        assert (await client.get("/users/me", headers=account["headers"])).status_code == 200
        # Algorithm confusion: HS256 signed with the (public) key as the HMAC secret.
        # (PyJWT refuses to make such a token, so it is signed by hand.)
        signing_input = (
            f"{_b64({'alg': 'HS256', 'typ': 'JWT'})}.{_b64(_claims(account['user']['id']))}"
        )
        mac = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
        confused = f"{signing_input}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"
        response = await client.get("/users/me", headers={"Authorization": f"Bearer {confused}"})
        assert_error(response, 401)
    await app.state.services.database.dispose()


# --- Bad input ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"password": "password123"}, "email"),
        ({"email": "not-an-email", "password": "password123"}, "email"),
        ({"email": "a" * 300 + "@example.com", "password": "password123"}, "email"),
        ({"email": "x@example.com"}, "password"),
        ({"email": "x@example.com", "password": "short"}, "password"),
        ({"email": "x@example.com", "password": "p" * 1025}, "password"),
        ({"email": "x@example.com", "password": 12345678}, "password"),
        (
            {"email": "x@example.com", "password": "password123", "first_name": "n" * 101},
            "first_name",
        ),
        ({"email": "x@example.com", "password": "password123", "last_name": "a\x00b"}, "last_name"),
        ({"email": "x@exa\x00mple.com", "password": "password123"}, "email"),
    ],
)
async def test_registration_refuses_bad_input(
    client: httpx.AsyncClient, payload: dict[str, object], field: str
) -> None:
    response = await client.post("/registration", json=payload)
    body = assert_error(response, 400, "Invalid input")
    assert field in body["fields"]
    assert field in body["description"]


@pytest.mark.parametrize(
    "payload",
    [
        {"email": "x@example.com"},
        {"email": "", "password": "password123"},
        {"email": "e" * 321, "password": "password123"},
        {"email": "x\x00@example.com", "password": "password123"},
        {"email": ["x@example.com"], "password": "password123"},
        {"email": "x@example.com", "password": "p" * 1025},
    ],
)
async def test_login_refuses_bad_input(
    client: httpx.AsyncClient, payload: dict[str, object]
) -> None:
    assert_error(await client.post("/login", json=payload), 400, "Invalid input")


async def test_login_refuses_bodies_that_are_not_json_objects(client: httpx.AsyncClient) -> None:
    for content in (b"{bad", b"[]", b"null", b"", '{"email": "\u00e9"}'.encode("latin-1")):
        response = await client.post(
            "/login", content=content, headers={"content-type": "application/json"}
        )
        assert_error(response, 400)
    form_without_password = await client.post("/login", data={"username": "x@example.com"})
    assert "password" in assert_error(form_without_password, 400)["fields"]


async def test_settings_of_the_fixture_are_not_production_defaults(settings: Settings) -> None:
    # Guards the suite itself: tests never run with a generated or placeholder secret.
    assert settings.secret_key is not None
    assert settings.secret_key.get_secret_value() == TEST_SECRET


async def test_old_login_attempts_are_pruned_by_the_hourly_task(
    client: httpx.AsyncClient, app: FastAPI, settings: Settings
) -> None:
    from imagehub.accounts.models import LoginAttempt
    from imagehub.accounts.tasks import prune_login_attempts
    from imagehub.core.jobs import configure_celery

    now = datetime.now(UTC)
    async with app.state.services.database.transaction() as session:
        session.add(
            LoginAttempt(
                email="old@x.io",
                client_ip="1.2.3.4",
                attempts=3,
                window_started_at=now - timedelta(hours=2),
            )
        )
        session.add(
            LoginAttempt(
                email="new@x.io",
                client_ip="1.2.3.4",
                attempts=3,
                window_started_at=now - timedelta(minutes=1),
            )
        )
    configure_celery(settings.model_copy(update={"broker_url": "memory://"}))
    assert await asyncio.to_thread(prune_login_attempts) == 1
    async with app.state.services.database.transaction() as session:
        left = [a.email for a in (await session.scalars(sa.select(LoginAttempt))).all()]
    assert left == ["new@x.io"]
