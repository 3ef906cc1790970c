"""A real Celery worker on real brokers: the embedded Redis, Redis and RabbitMQ."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from imagehub.core.db import create_engine
from imagehub.core.jobs import celery_app, configure_celery
from imagehub.run.embedded import EmbeddedRedis
from tests.conftest import TEST_SECRET, make_settings
from tests.platform.processes import imagehub_env, start_imagehub, stop_process_tree, wait_for

pytestmark = pytest.mark.slow


@pytest.fixture(params=["embedded", "redis", "rabbitmq"])
def broker_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "embedded":
        broker = EmbeddedRedis(tmp_path / "embedded")
        yield broker.start()
        broker.stop()
    else:
        yield request.getfixturevalue(f"{request.param}_url")


def _heartbeats(database_url: str) -> list[str]:
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            return list(connection.scalars(sa.text("SELECT hostname FROM worker_heartbeats")))
    finally:
        engine.dispose()


def _clear_heartbeats(database_url: str) -> None:
    engine = create_engine(database_url)
    with engine.begin() as connection:
        connection.execute(sa.text("DELETE FROM worker_heartbeats"))
    engine.dispose()


def _run_smoke_task(tmp_path: Path, database_url: str, broker_url: str) -> None:
    env = imagehub_env(
        tmp_path, database_url=database_url, broker_url=broker_url, secret_key=TEST_SECRET
    )
    log = tmp_path / "worker.log"
    worker = start_imagehub(["worker", "--concurrency=1"], env, log)
    try:
        # The worker announces itself with a first heartbeat as soon as it is ready...
        wait_for(lambda: _heartbeats(database_url), 60, "the worker's first heartbeat", log)
        _clear_heartbeats(database_url)
        # ...and runs what we send it.
        configure_celery(make_settings(tmp_path, database_url=database_url, broker_url=broker_url))
        celery_app.send_task("health.heartbeat")
        wait_for(lambda: _heartbeats(database_url), 30, "the heartbeat task to run", log)
    finally:
        stop_process_tree(worker)
    assert worker.wait(30) is not None


def test_smoke_task_on_sqlite(tmp_path: Path, broker_url: str) -> None:
    from imagehub.core import migrate

    database_url = f"sqlite:///{tmp_path / 'worker.db'}"
    migrate.upgrade(database_url)
    _run_smoke_task(tmp_path, database_url, broker_url)


def test_smoke_task_on_postgresql_and_redis(
    tmp_path: Path, postgres_url: str, redis_url: str
) -> None:
    from imagehub.core import migrate

    migrate.upgrade(postgres_url)
    try:
        _run_smoke_task(tmp_path, postgres_url, redis_url)
    finally:
        _clear_heartbeats(postgres_url)


# Run in a process of its own: the allocator's settings are the process's, for good.
_REPEATED_PNG_JOBS = """
import io, json, sys
from PIL import Image
from imagehub.run.worker import keep_freed_memory_for_reuse
keep_freed_memory_for_reuse()
from imagehub.processing.transforms import EncodeOptions, make_variants

def rss_mib():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024

photo = Image.open(sys.argv[1]).convert("RGB").resize((2000, 1500))
photo = Image.blend(photo, Image.effect_noise(photo.size, 24).convert("RGB"), 0.06)
buffer = io.BytesIO()
photo.save(buffer, "PNG")
data = buffer.getvalue()
sizes = []
for _ in range(12):
    make_variants(data, "PNG", EncodeOptions(), 64_000_000)
    sizes.append(rss_mib())
print(json.dumps(sizes))
"""


def test_a_worker_process_does_not_grow_job_after_job(tmp_path: Path) -> None:
    """Twelve 3 MP PNG jobs in a process with the worker's allocator settings: after the
    first two, its memory stays where it was (libvips works in threads of its own; with a
    heap per thread each kept its own freed buffers, 60 MiB more over 20 jobs)."""
    import json
    import subprocess
    import sys

    photo = Path(__file__).parents[2] / "bench" / "photos" / "chelsea.jpg"
    done = subprocess.run(
        [sys.executable, "-c", _REPEATED_PNG_JOBS, str(photo)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    sizes = json.loads(done.stdout)
    assert max(sizes[2:]) - sizes[1] <= 4, sizes  # MiB
