"""A real PostgreSQL server restarted under a running worker and API: the jobs that met the
outage are retried, every image is done soon after the server is back, exactly once, and
the API answers the outage with a 503 and nothing but 200s once it is over."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from imagehub.core import migrate
from imagehub.run.embedded import EmbeddedRedis
from tests.conftest import TEST_SECRET, assert_error, connected, free_port
from tests.platform.processes import imagehub_env, start_imagehub, stop_process_tree, wait_for
from tests.processing import images
from tests.reliability.private_postgres import PrivatePostgres, private_postgres

pytestmark = pytest.mark.slow

IMAGES = 40
OUTAGE_SECONDS = 6
BACK_WITHIN_SECONDS = 30


@pytest.fixture
def database() -> Iterator[PrivatePostgres]:
    with private_postgres() as server:
        migrate.upgrade(server.url)
        yield server


def test_a_database_restart_loses_and_repeats_nothing(
    database: PrivatePostgres, tmp_path: Path
) -> None:
    broker = EmbeddedRedis(tmp_path / "broker")
    port = free_port()
    env = imagehub_env(
        tmp_path,
        database_url=database.url,
        broker_url=broker.start(),
        secret_key=TEST_SECRET,
        port=str(port),
        task_stall_seconds="3600",  # recovery must come from retries, not the sweep
    )
    worker = start_imagehub(["worker", "--concurrency=2"], env, tmp_path / "worker.log")
    api = start_imagehub(["api"], env, tmp_path / "api.log")
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: httpx.get(f"{base}/readyz", timeout=5).is_success, 60, "/readyz")
        account = {"email": "restart@example.com", "password": "correct horse battery"}
        token = httpx.post(f"{base}/registration", json=account).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        files = [
            ("files", (f"p{i:02d}.jpg", images.jpeg(320, 240), "image/jpeg")) for i in range(IMAGES)
        ]
        accepted = httpx.post(f"{base}/upload", files=files, headers=headers, timeout=60)
        assert accepted.status_code == 202, accepted.text
        task_id = accepted.json()["task_id"]

        database.stop()  # the jobs just sent meet the outage
        during = httpx.get(f"{base}/status/{task_id}", headers=headers, timeout=10)
        assert_error(during, 503)
        assert "Traceback" not in during.text
        time.sleep(OUTAGE_SECONDS)
        database.start()
        back = time.monotonic()

        answers: list[int] = []

        def finished() -> dict[str, object] | None:
            response = httpx.get(f"{base}/status/{task_id}", headers=headers, timeout=10)
            answers.append(response.status_code)
            body: dict[str, object] = response.json()
            return body if body.get("status") in ("done", "partial", "failed") else None

        status = wait_for(
            finished, BACK_WITHIN_SECONDS, "every image done", tmp_path / "worker.log"
        )
        assert time.monotonic() - back < BACK_WITHIN_SECONDS
        assert (status["status"], status["done"], status["failed"]) == ("done", IMAGES, 0)
        assert set(answers) == {200}  # no 5xx once the server was back
        with connected(database.url) as connection:
            stored_rows = connection.execute(sa.text("SELECT count(*) FROM image_task")).scalar()
            queued = connection.execute(sa.text("SELECT count(*) FROM images")).scalar()
        assert (stored_rows, queued) == (4 * IMAGES, IMAGES)  # exactly once
        retried = (tmp_path / "worker.log").read_text().count("Retry in")
        assert retried > 0, "no job met the outage: the test proved nothing"
    finally:
        stop_process_tree(api)
        stop_process_tree(worker)
        broker.stop()
