"""Slow and vanishing clients against a real `imagehub api` process on real sockets.

Fifty uploads trickling in a byte a second must hold no transaction and no connection:
other users' requests answer as fast as without them, nothing is a 5xx, the database
sees no session idle in a transaction, and the trickles end in a 408 once their time is up.
"""

from __future__ import annotations

import socket
import statistics
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from imagehub.core import migrate
from imagehub.core.db import Base
from tests.conftest import TEST_SECRET, connected, free_port
from tests.platform.processes import imagehub_env, start_imagehub, stop_process_tree, wait_for

pytestmark = pytest.mark.slow

SLOW_UPLOADS = 50
BODY_SECONDS = 12  # the trickles' deadline: long enough to measure beside them
BOUNDARY = "imagehub-test-boundary"


@pytest.fixture(params=["sqlite", "postgresql"])
def api(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """(base URL, database URL) of an API process on its own port."""
    if request.param == "sqlite":
        database_url = f"sqlite:///{tmp_path / 'slow.db'}"
    else:
        database_url = request.getfixturevalue("postgres_url")
    migrate.upgrade(database_url)
    port = free_port()
    env = imagehub_env(
        tmp_path,
        database_url=database_url,
        broker_url="memory://",
        secret_key=TEST_SECRET,
        port=str(port),
        upload_body_seconds=str(BODY_SECONDS),
        uploads_in_flight=str(SLOW_UPLOADS + 10),
        uploads_in_flight_per_user=str(SLOW_UPLOADS),
        login_max_failures="1000",
    )
    log = tmp_path / "api.log"
    process = start_imagehub(["api"], env, log)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: httpx.get(f"{base}/healthz", timeout=2).is_success, 60, "/healthz", log)
        yield base, database_url
    finally:
        stop_process_tree(process)
        empty(database_url)


def empty(database_url: str) -> None:
    with connected(database_url) as connection:
        for table in reversed(Base.metadata.sorted_tables):
            connection.execute(table.delete())


def register(base: str, email: str) -> str:
    account = {"email": email, "password": "correct horse battery"}
    response = httpx.post(f"{base}/registration", json=account, timeout=10)
    assert response.status_code == 201, response.text
    token: str = response.json()["access_token"]
    return token


def start_slow_upload(base: str, token: str) -> socket.socket:
    """Headers and the start of a multipart body; the rest is to come, a byte at a time."""
    port = int(base.rsplit(":", 1)[1])
    part = (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="files"; filename="a.jpg"'
        "\r\nContent-Type: image/jpeg\r\n\r\n"
    ).encode()
    head = (
        f"POST /upload HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n"
        f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n"
        f"Content-Length: {len(part) + 100_000}\r\n\r\n"
    ).encode()
    connection = socket.create_connection(("127.0.0.1", port), timeout=5)
    connection.sendall(head + part + b"\xff\xd8\xff")
    return connection


def timed(send: Any) -> tuple[float, int]:
    started = time.perf_counter()
    response = send()
    return time.perf_counter() - started, response.status_code


def p99(seconds: list[float]) -> float:
    return statistics.quantiles(seconds, n=100)[98] if len(seconds) > 1 else seconds[0]


def measure(base: str, token: str, email: str, rounds: int) -> dict[str, list[float]]:
    """Latencies of another user's GET /users/me and POST /login; every answer a 200."""
    me: list[float] = []
    login: list[float] = []
    with httpx.Client(base_url=base, timeout=30) as client:
        headers = {"Authorization": f"Bearer {token}"}
        credentials = {"email": email, "password": "correct horse battery"}
        for _ in range(rounds):
            seconds, status = timed(lambda: client.get("/users/me", headers=headers))
            assert status == 200
            me.append(seconds)
            seconds, status = timed(lambda: client.post("/login", json=credentials))
            assert status == 200
            login.append(seconds)
    return {"me": me, "login": login}


def idle_in_transaction(database_url: str) -> int:
    if not database_url.startswith("postgresql"):
        return 0
    name = sa.make_url(database_url).database
    with connected(database_url) as connection:
        return int(
            connection.execute(
                sa.text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = :name"
                    " AND state LIKE 'idle in transaction%'"
                ),
                {"name": name},
            ).scalar_one()
        )


def test_fifty_trickling_uploads_hold_nothing(api: tuple[str, str]) -> None:
    base, database_url = api
    uploader = register(base, "trickle@example.com")
    other = register(base, "other@example.com")
    baseline = measure(base, other, "other@example.com", rounds=15)

    slow = [start_slow_upload(base, uploader) for _ in range(SLOW_UPLOADS)]
    started = time.monotonic()
    try:
        time.sleep(1)
        beside = measure(base, other, "other@example.com", rounds=15)
        for connection in slow:  # a byte a second, still coming
            connection.sendall(b"\x00")
        assert idle_in_transaction(database_url) == 0
        # /users/me is a token check and one primary-key read: fast, trickles or not.
        # A login is mostly its argon2id hash (over 100 ms here), so it is held to its
        # own pace without the trickles.
        assert p99(beside["me"]) < 0.1, beside["me"]
        assert p99(beside["login"]) < 2 * p99(baseline["login"]) + 0.05, (beside, baseline)

        # Their time up, every trickle is answered 408 (and holds nothing after).
        answers = []
        for connection in slow:
            connection.settimeout(max(1.0, BODY_SECONDS + 10 - (time.monotonic() - started)))
            answers.append(connection.recv(200).split(b"\r\n", 1)[0])
        assert answers == [b"HTTP/1.1 408 Request Timeout"] * SLOW_UPLOADS
    finally:
        for connection in slow:
            connection.close()
    assert idle_in_transaction(database_url) == 0
    assert httpx.get(f"{base}/users/me", headers={"Authorization": f"Bearer {other}"}).is_success


def test_uploads_beyond_the_cap_are_429_at_once(api: tuple[str, str]) -> None:
    base, _ = api
    token = register(base, "capped@example.com")
    slow = [start_slow_upload(base, token) for _ in range(SLOW_UPLOADS)]
    try:
        time.sleep(0.5)
        one_more = start_slow_upload(base, token)
        one_more.settimeout(5)
        answer = one_more.recv(2000)
        one_more.close()
        assert answer.startswith(b"HTTP/1.1 429"), answer[:200]
        assert b"retry-after: 5" in answer.lower()
    finally:
        for connection in slow:
            connection.close()


def test_a_client_that_leaves_mid_upload_is_no_server_error(
    api: tuple[str, str], tmp_path: Path
) -> None:
    base, _ = api
    token = register(base, "leaver@example.com")
    for _ in range(3):
        start_slow_upload(base, token).close()  # gone after the first bytes

    def upload_metrics() -> list[str] | None:
        lines = httpx.get(f"{base}/metrics").text.splitlines()
        return [line for line in lines if 'route="/upload"' in line] or None

    upload_lines = wait_for(upload_metrics, 10, "the uploads in /metrics")
    assert any('status="499"' in line for line in upload_lines), upload_lines
    assert not any('status="5' in line for line in upload_lines), upload_lines
    log = (tmp_path / "api.log").read_text()
    assert log.count("the client disconnected") == 3
    assert "Traceback" not in log
