"""The stall sweep under a backlog longer than its stall time, against a real worker on a
real broker: it sends nothing again, so deliveries equal the jobs sent."""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from pathlib import Path

import httpx
import pytest

from imagehub.core import jobs, migrate
from imagehub.processing import service, tasks
from imagehub.processing.repository import PendingImage
from imagehub.run.api import create_app
from imagehub.run.embedded import EmbeddedRedis
from tests.conftest import TEST_SECRET, make_settings, register
from tests.platform.processes import imagehub_env, start_imagehub, stop_process_tree, wait_for
from tests.processing import images
from tests.processing.conftest import upload

pytestmark = pytest.mark.slow

UPLOADS, PER_UPLOAD = 4, 60
STALL_SECONDS = 3  # far below the backlog's length
RECEIVED = re.compile(r"Task processing\.process_images\[[^\]]+\] received")
SUCCEEDED = re.compile(r"Task processing\.process_images\[[^\]]+\] succeeded")
WIDTH, HEIGHT = 2048, 1536  # long enough a backlog at one process


def test_a_long_backlog_is_swept_without_a_single_copy(tmp_path: Path) -> None:
    database_url = f"sqlite:///{tmp_path / 'sweep.db'}"
    migrate.upgrade(database_url)
    broker = EmbeddedRedis(tmp_path / "broker")
    settings = make_settings(
        tmp_path,
        database_url=database_url,
        broker_url=broker.start(),
        task_stall_seconds=STALL_SECONDS,
    )
    log = tmp_path / "worker.log"
    env = imagehub_env(
        tmp_path,
        database_url=database_url,
        broker_url=settings.broker_url or "",
        secret_key=TEST_SECRET,
        task_stall_seconds=str(STALL_SECONDS),
    )
    worker = start_imagehub(["worker", "--concurrency=1"], env, log)
    try:
        wait_for(lambda: "ready" in log.read_text(), 60, "the worker", log)

        async def send_uploads() -> list[str]:
            app = create_app(settings)
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                account = await register(client)
                data = images.jpeg(WIDTH, HEIGHT)
                ids = []
                for n in range(UPLOADS):
                    files = [(f"u{n}-{i}.jpg", data) for i in range(PER_UPLOAD)]
                    ids.append((await upload(client, account["headers"], files)).json()["task_id"])
            await app.state.services.database.dispose()
            return ids

        task_ids = asyncio.run(send_uploads())
        jobs.configure_celery(settings)  # this process sweeps, as beat's task would
        sweeps, sent_again = 0, 0
        while jobs.jobs_waiting():
            time.sleep(0.5)
            sent_again += tasks.sweep_stalled()
            sweeps += 1
        jobs.reset_worker_context()
        assert sweeps >= 2 * STALL_SECONDS, "the backlog drained before it was old enough"

        a_task = [PendingImage(uuid.uuid4(), uuid.uuid4(), WIDTH * HEIGHT)] * PER_UPLOAD
        jobs_sent = UPLOADS * len(service.image_jobs(a_task, settings.job_pixels))

        def deliveries() -> int | None:
            text = log.read_text()
            done = len(SUCCEEDED.findall(text))
            return len(RECEIVED.findall(text)) if done >= jobs_sent else None

        assert wait_for(deliveries, 60, "every job done", log) == jobs_sent
        assert sent_again == 0
        assert len(task_ids) == UPLOADS
    finally:
        stop_process_tree(worker)
        broker.stop()
