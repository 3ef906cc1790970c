"""Shared fixtures: real databases (SQLite always, PostgreSQL when reachable), the app on
an async client, a real S3-protocol server (moto), brokers (embedded Redis, Redis, RabbitMQ).

A test that needs a server skips when it is absent, unless IMAGEHUB_TEST_REQUIRE_SERVICES=1
(CI sets it), which turns the absence into a failure.
"""

from __future__ import annotations

import os
import secrets
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI

from imagehub.accounts import service as accounts
from imagehub.accounts.models import Role
from imagehub.core import migrate
from imagehub.core.config import Settings
from imagehub.core.db import Base, create_engine

# The app reaches every domain's tables, so Base.metadata knows them all once it is imported
# (test_models_and_migrations_agree fails if one were missing).
from imagehub.run.api import create_app

REQUIRE_SERVICES = os.environ.get("IMAGEHUB_TEST_REQUIRE_SERVICES") == "1"
POSTGRES_ADMIN_URL = os.environ.get(
    "IMAGEHUB_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
REDIS_HOST = os.environ.get("IMAGEHUB_TEST_REDIS_HOST", "127.0.0.1")
RABBITMQ_URL = os.environ.get("IMAGEHUB_TEST_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672//")
TEST_SECRET = "test-secret-" + "x" * 40


def service_unavailable(what: str, why: object) -> None:
    message = f"{what} is not reachable ({why})"
    if REQUIRE_SERVICES:
        pytest.fail(f"{message}, and IMAGEHUB_TEST_REQUIRE_SERVICES=1")
    pytest.skip(message)


@contextmanager
def connected(database_url: str) -> Iterator[sa.Connection]:
    """One committed transaction on a short-lived engine, for tests to read or plant rows."""
    engine = create_engine(database_url)
    try:
        with engine.begin() as connection:
            yield connection
    finally:
        engine.dispose()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# --- Databases ----------------------------------------------------------------------------


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test run, dropped at the end."""
    admin_url = POSTGRES_ADMIN_URL
    try:
        admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(sa.text("SELECT 1"))
    except Exception as error:
        service_unavailable("PostgreSQL", error)
    name = f"imagehub_test_{os.getpid()}_{secrets.token_hex(3)}"
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = sa.make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    yield url
    with admin.connect() as connection:
        connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """Each test using it runs once on SQLite and once on PostgreSQL, on a migrated schema."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'imagehub.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    migrate.upgrade(url)
    return url


@pytest.fixture(scope="session")
def _cleaners() -> Iterator[dict[str, sa.Engine]]:
    engines: dict[str, sa.Engine] = {}
    yield engines
    for engine in engines.values():
        engine.dispose()


@pytest.fixture
def clean_database(database_url: str, _cleaners: dict[str, sa.Engine]) -> Iterator[str]:
    """The database, emptied after the test (tests see each other's data never)."""
    yield database_url
    engine = _cleaners.setdefault(database_url, create_engine(database_url))
    with engine.begin() as connection:
        for table in reversed(Base.metadata.sorted_tables):
            connection.execute(table.delete())


# --- The app ------------------------------------------------------------------------------


def make_settings(tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "data_dir": tmp_path,
        "secret_key": TEST_SECRET,
        "broker_url": None,
        "storage_url": None,
        **overrides,
    }
    return Settings(_env_file=None, **values)


@pytest.fixture
def settings(tmp_path: Path, clean_database: str) -> Settings:
    return make_settings(tmp_path, database_url=clean_database)


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    application = create_app(settings)
    yield application
    await application.state.services.database.dispose()


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


@contextmanager
def statements_of(app: FastAPI) -> Iterator[list[str]]:
    """The SQL statements the app sends while inside (an executemany counts once)."""
    engine = app.state.services.database.engine.sync_engine
    statements: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    sa.event.listen(engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        sa.event.remove(engine, "before_cursor_execute", count)


@asynccontextmanager
async def client_for(settings: Settings, **transport: Any) -> AsyncIterator[httpx.AsyncClient]:
    """A client on an app of its own, for tests that need settings of their own."""
    application = create_app(settings)
    asgi = httpx.ASGITransport(app=application, **transport)
    async with httpx.AsyncClient(transport=asgi, base_url="http://testserver") as client:
        yield client
    await application.state.services.database.dispose()


async def register(
    client: httpx.AsyncClient, email: str | None = None, password: str = "correct horse battery"
) -> dict[str, Any]:
    """Register an account; returns the response body plus the password and auth headers."""
    email = email or f"user-{uuid.uuid4().hex[:10]}@example.com"
    response = await client.post("/registration", json={"email": email, "password": password})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    body["password"] = password
    body["headers"] = {"Authorization": f"Bearer {body['access_token']}"}
    return body


async def promote(app: FastAPI, email: str, role: Role) -> None:
    """Give an account a role, as `imagehub user promote` does."""
    async with app.state.services.database.transaction() as session:
        await accounts.change_role(session, email, role)


def assert_error(response: httpx.Response, status: int, name: str | None = None) -> dict[str, Any]:
    """The one error shape, with no HTML and no traceback."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body: dict[str, Any] = response.json()
    assert body["code"] == status
    assert isinstance(body["name"], str)
    assert body["name"]
    assert isinstance(body["description"], str)
    assert body["description"]
    assert "Traceback" not in response.text
    if name is not None:
        assert body["name"] == name
    return body


# --- Servers for storage and brokers -----------------------------------------------------


@pytest.fixture(scope="session")
def moto_s3() -> Iterator[str]:
    """A real S3-protocol HTTP server on 127.0.0.1 (moto's server mode)."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def s3_bucket(moto_s3: str) -> str:
    """A new bucket on the moto server (obstore cannot create buckets; boto3 can)."""
    import boto3

    name = f"imagehub-{uuid.uuid4().hex[:12]}"
    boto3.client(
        "s3",
        endpoint_url=moto_s3,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    ).create_bucket(Bucket=name)
    return name


def s3_settings(tmp_path: Path, endpoint: str, bucket: str, **overrides: Any) -> Settings:
    return make_settings(
        tmp_path,
        storage_url=f"s3://{bucket}",
        s3_endpoint_url=endpoint,
        s3_access_key_id="test",
        s3_secret_access_key="test",
        **overrides,
    )


@pytest.fixture(scope="session")
def redis_url() -> str:
    import redis

    database = 1 + secrets.randbelow(15)  # a database of its own, away from other runs
    try:
        redis.Redis(host=REDIS_HOST, port=6379, socket_connect_timeout=2).ping()
    except Exception as error:
        service_unavailable("Redis", error)
    return f"redis://{REDIS_HOST}:6379/{database}"


@pytest.fixture(scope="session")
def rabbitmq_url() -> str:
    from kombu import Connection

    try:
        with Connection(RABBITMQ_URL, connect_timeout=3) as connection:
            connection.ensure_connection(max_retries=1)
    except Exception as error:
        service_unavailable("RabbitMQ", error)
    return RABBITMQ_URL


# --- A closing line that says which real services the run used -----------------------------

_SERVICE_FIXTURES = {
    "postgres_url": "PostgreSQL",
    "redis_url": "Redis",
    "rabbitmq_url": "RabbitMQ",
    "moto_s3": "S3 (moto server)",
    "github": "fake GitHub (GitHub's npm descriptions)",
    "browser": "Chromium",
}
# Fixture parameters naming a service reached through request.getfixturevalue(), such as
# database_url="postgresql" or stack="redis+postgresql".
_SERVICE_PARAM_TOKENS = {
    "postgresql": "PostgreSQL",
    "redis": "Redis",
    "rabbitmq": "RabbitMQ",
    "s3": "S3 (moto server)",
}
_service_outcomes: dict[str, dict[str, int]] = {}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=lambda item: item.get_closest_marker("runs_last") is not None)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    used = {
        _SERVICE_FIXTURES[name]
        for name in getattr(item, "fixturenames", ())
        if name in _SERVICE_FIXTURES
    }
    callspec = getattr(item, "callspec", None)
    params = callspec.params.items() if callspec else ()
    used |= {
        _SERVICE_PARAM_TOKENS[token]
        for _, value in params
        if isinstance(value, str)
        for token in value.split("+")
        if token in _SERVICE_PARAM_TOKENS
    }
    if report.when == "call" or (report.when == "setup" and report.outcome != "passed"):
        for service in used:
            counts = _service_outcomes.setdefault(service, {})
            counts[report.outcome] = counts.get(report.outcome, 0) + 1
    return report


def pytest_terminal_summary(terminalreporter: Any) -> None:
    terminalreporter.section("real services used")
    for service in _SERVICE_FIXTURES.values():
        counts = _service_outcomes.get(service, {})
        summary = ", ".join(f"{n} {outcome}" for outcome, n in sorted(counts.items())) or "none"
        terminalreporter.write_line(f"{service}: {summary}")
