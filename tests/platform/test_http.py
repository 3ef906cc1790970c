"""The HTTP edge: one error shape everywhere, request ids, health, metrics, docs."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from imagehub.core.config import Settings
from tests.conftest import assert_error, client_for, register


async def test_unknown_route(client: httpx.AsyncClient) -> None:
    body = assert_error(await client.get("/no/such/route"), 404, "Not found")
    assert body["description"] == "No route GET /no/such/route"


async def test_wrong_method_keeps_the_allow_header(client: httpx.AsyncClient) -> None:
    response = await client.patch("/users/me")
    assert_error(response, 405, "Method not allowed")
    assert response.headers["allow"] == "DELETE, GET, HEAD"


async def test_allow_names_every_method_of_the_path(client: httpx.AsyncClient) -> None:
    # /images/{id} is two routes (GET and PUT): the first to match must not speak for both.
    response = await client.options("/images/5")
    assert_error(response, 405)
    assert response.headers["allow"] == "GET, HEAD, PUT"
    assert (await client.options("/v1/users")).headers["allow"] == "GET, HEAD, POST"


async def test_head_is_answered_wherever_get_is(client: httpx.AsyncClient) -> None:
    for path in ("/healthz", "/healthz/", "/openapi.json", "/app/sign-in"):
        head = await client.head(path)
        assert head.status_code == 200, path
        assert head.content == b""
    assert (await client.head("/users/me")).status_code == 401  # the same rules as GET


async def test_unexpected_exception_is_an_envelope_with_the_request_id(
    app: FastAPI, client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("secret internals")

    with caplog.at_level(logging.ERROR):
        response = await client.get("/boom", headers={"X-Request-ID": "req-42"})
    body = assert_error(response, 500, "Internal server error")
    assert "req-42" in body["description"]
    assert "secret internals" not in response.text
    assert response.headers["x-request-id"] == "req-42"
    logged = [r for r in caplog.records if r.exc_info and "secret internals" in str(r.exc_info[1])]
    assert logged
    assert getattr(logged[0], "request_id", None) == "req-42"


async def test_request_id_is_made_when_absent_or_unsafe(client: httpx.AsyncClient) -> None:
    made = await client.get("/healthz")
    assert len(made.headers["x-request-id"]) == 32
    unsafe = await client.get("/healthz", headers={"X-Request-ID": "a b\nc"})
    assert unsafe.headers["x-request-id"] != "a b\nc"


async def test_routes_answer_with_and_without_trailing_slash(client: httpx.AsyncClient) -> None:
    account = await register(client)
    for path in ("/users/me", "/users/me/"):
        response = await client.get(path, headers=account["headers"])
        assert response.status_code == 200, path
    assert (await client.get("/healthz/")).status_code == 200
    login = await client.post(
        "/login/", json={"email": account["user"]["email"], "password": account["password"]}
    )
    assert login.status_code == 200


async def test_body_over_the_limit_is_refused_before_reading(client: httpx.AsyncClient) -> None:
    big = b'{"email": "' + b"a" * (2 * 1024 * 1024) + b'"}'
    response = await client.post(
        "/registration", content=big, headers={"content-type": "application/json"}
    )
    assert_error(response, 413)


async def test_chunked_body_over_the_limit_is_refused(client: httpx.AsyncClient) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(40):
            yield b"x" * 65536

    response = await client.post(
        "/registration", content=chunks(), headers={"content-type": "application/json"}
    )
    assert_error(response, 413)


async def test_a_body_that_does_not_arrive_in_time_is_408(settings: Settings) -> None:
    async def trickle() -> AsyncIterator[bytes]:
        yield b'{"email": "slow@example.com",'
        await asyncio.sleep(5)  # the client stalls
        yield b' "password": "correct horse battery"}'

    async with client_for(settings.model_copy(update={"body_seconds": 0.3})) as client:
        started = time.monotonic()
        response = await client.post(
            "/registration", content=trickle(), headers={"content-type": "application/json"}
        )
    assert_error(response, 408, "Request timeout")
    assert time.monotonic() - started < 3


async def test_every_response_says_nosniff(client: httpx.AsyncClient) -> None:
    for response in (
        await client.get("/healthz"),
        await client.get("/no/such/route"),
        await client.post("/login", json={}),
        await client.get("/app/sign-in"),
    ):
        assert response.headers["x-content-type-options"] == "nosniff", response.url


async def test_healthz_reports_the_version(client: httpx.AsyncClient) -> None:
    from imagehub import __version__

    assert (await client.get("/healthz")).json() == {"status": "ok", "version": __version__}


async def test_readyz_names_what_is_unreachable(client: httpx.AsyncClient) -> None:
    # No broker configured in this app: database and storage answer, the broker does not.
    response = await client.get("/readyz")
    body = assert_error(response, 503)
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["storage"]["ok"] is True
    assert body["checks"]["broker"]["ok"] is False
    assert body["description"] == "Unreachable: broker"


async def test_metrics_count_requests_by_route_template(client: httpx.AsyncClient) -> None:
    await client.get("/healthz")
    await client.get("/no/such/thing")
    text = (await client.get("/metrics")).text
    assert 'imagehub_http_requests_total{method="GET",route="/healthz",status="200"}' in text
    assert 'route="unmatched",status="404"' in text
    assert "/no/such/thing" not in text  # unknown paths never become label values
    assert "imagehub_http_request_duration_seconds_bucket" in text


async def test_docs_work_offline_and_offer_the_password_login(client: httpx.AsyncClient) -> None:
    page = await client.get("/docs")
    assert page.status_code == 200
    assert "/static/docs/swagger-ui-bundle.js" in page.text
    assert "cdn" not in page.text.lower()
    script = await client.get("/static/docs/swagger-ui-bundle.js")
    assert script.status_code == 200
    assert len(script.content) > 100_000
    schema = (await client.get("/openapi.json")).json()
    flows = schema["components"]["securitySchemes"]["OAuth2PasswordBearer"]["flows"]
    assert flows["password"]["tokenUrl"] == "/login"
    login_body = schema["paths"]["/login"]["post"]["requestBody"]["content"]
    assert {"application/json", "application/x-www-form-urlencoded"} <= set(login_body)


async def test_the_openapi_document_declares_our_errors_and_fastapis_422_nowhere(
    client: httpx.AsyncClient,
) -> None:
    document = (await client.get("/openapi.json")).json()
    assert "HTTPValidationError" not in document["components"]["schemas"]
    error = document["components"]["schemas"]["Error"]
    assert {"code", "name", "description"} <= set(error["required"])
    operation_ids = []
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            responses = operation["responses"]
            # Validation errors are 400; the one 422 is an upload's reused Idempotency-Key.
            assert ("422" in responses) == ((method, path) == ("post", "/upload")), (method, path)
            assert "500" in responses, (method, path)
            if operation.get("parameters") or operation.get("requestBody"):
                assert "400" in responses, (method, path)
            if operation.get("security"):
                assert "401" in responses, (method, path)
            for status, response in responses.items():
                if status.startswith(("4", "5")):
                    schema = response["content"]["application/json"]["schema"]
                    assert schema == {"$ref": "#/components/schemas/Error"}, (method, path)
            operation_ids.append(operation["operationId"])
    assert len(operation_ids) == len(set(operation_ids))
    assert "upload" in operation_ids
    assert "get_image" in operation_ids
    assert "204" in document["paths"]["/images/"]["put"]["responses"]
    zipped = document["paths"]["/task/{task_id}"]["get"]["responses"]["200"]["content"]
    assert zipped == {"application/zip": {"schema": {"type": "string", "format": "binary"}}}
    names = document["components"]["schemas"]
    assert "TaskImageOut" in names
    assert "ModerationImageOut" in names
