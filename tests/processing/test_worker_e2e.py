"""Uploads processed by real Celery workers on real brokers, including workers that die."""

from __future__ import annotations

import io
import time
import zipfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from imagehub.core import migrate
from imagehub.core.config import Settings
from imagehub.run.api import create_app
from imagehub.run.embedded import EmbeddedRedis
from tests.conftest import TEST_SECRET, make_settings, register
from tests.platform.processes import imagehub_env, start_imagehub, stop_process_tree
from tests.processing import images
from tests.processing.conftest import upload

pytestmark = pytest.mark.slow


@pytest.fixture(params=["embedded+sqlite", "redis+postgresql", "rabbitmq+sqlite"])
def stack(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Settings]:
    broker_name, database = request.param.split("+")
    if database == "sqlite":
        database_url = f"sqlite:///{tmp_path / 'e2e.db'}"
    else:
        database_url = request.getfixturevalue("postgres_url")
    migrate.upgrade(database_url)
    broker: EmbeddedRedis | None = None
    if broker_name == "embedded":
        broker = EmbeddedRedis(tmp_path / "broker")
        broker_url = broker.start()
    else:
        broker_url = request.getfixturevalue(f"{broker_name}_url")
    yield make_settings(
        tmp_path,
        database_url=database_url,
        broker_url=broker_url,
        broker_visibility_timeout_seconds=10,
    )
    if broker is not None:
        broker.stop()
    if database != "sqlite":
        from imagehub.core.db import Base, create_engine

        engine = create_engine(database_url)
        with engine.begin() as connection:
            for table in reversed(Base.metadata.sorted_tables):
                connection.execute(table.delete())
        engine.dispose()


@pytest.fixture
async def client(stack: Settings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(stack)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client
    await app.state.services.database.dispose()


def _process_env(settings: Settings) -> dict[str, str]:
    return imagehub_env(
        settings.data_dir,
        database_url=settings.effective_database_url,
        broker_url=settings.broker_url or "",
        secret_key=TEST_SECRET,
        broker_visibility_timeout_seconds="10",
        task_stall_seconds="20",
    )


def start_worker(settings: Settings, tmp_path: Path, name: str, concurrency: int = 2) -> Any:
    args = ["worker", f"--concurrency={concurrency}"]
    return start_imagehub(args, _process_env(settings), tmp_path / f"{name}.log")


async def wait_until_finished(
    client: httpx.AsyncClient, headers: dict[str, str], task_id: str, seconds: float
) -> dict[str, Any]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        status: dict[str, Any] = (await client.get(f"/status/{task_id}", headers=headers)).json()
        if status["status"] in ("done", "partial", "failed"):
            return status
        await _sleep(0.25)
    raise AssertionError(f"task {task_id} did not finish in {seconds:.0f} s: {status}")


async def _sleep(seconds: float) -> None:
    import anyio

    await anyio.sleep(seconds)


async def test_real_worker_processes_an_upload(
    stack: Settings, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    worker = start_worker(stack, tmp_path, "worker")
    try:
        account = await register(client)
        files = [
            ("a.jpg", images.jpeg(64, 48)),
            ("b.png", images.png(33, 17)),
            ("c.jpg", images.corrupt_jpeg()),
        ]
        task_id = (await upload(client, account["headers"], files)).json()["task_id"]
        status = await wait_until_finished(client, account["headers"], task_id, 60)
        assert (status["status"], status["done"], status["failed"]) == ("partial", 2, 1)
        archive = await client.get(f"/task/{task_id}", headers=account["headers"])
        names = zipfile.ZipFile(io.BytesIO(archive.content)).namelist()
        assert len(names) == 9
        scaled = zipfile.ZipFile(io.BytesIO(archive.content)).read("b_scaled.png")
        assert Image.open(io.BytesIO(scaled)).size == (17, 9)
    finally:
        stop_process_tree(worker)
