from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from imagehub.core import jobs
from imagehub.core.config import Settings
from imagehub.core.db import create_engine
from imagehub.processing import repository, service, tasks
from tests.conftest import make_settings


@pytest.fixture
def settings(tmp_path: Path, clean_database: str) -> Settings:
    # An in-process broker: jobs are published for real; tests run them with process_all().
    return make_settings(tmp_path, database_url=clean_database, broker_url="memory://")


@pytest.fixture
def queue(settings: Settings) -> Iterator[None]:
    """The in-process broker, empty, and a worker context on these settings."""
    jobs.configure_celery(settings)
    jobs.celery_app.control.purge()
    yield
    jobs.celery_app.control.purge()
    jobs.reset_worker_context()


def process_all(settings: Settings, task_id: str | uuid.UUID) -> list[str | None]:
    """Run the task's pending images' jobs here, cut as they are sent, through the worker's
    own task function; each image's final state, in upload order."""
    # The worker context of these settings (their database and storage); jobs publish
    # nothing, so an in-process broker does when the settings name none.
    jobs.configure_celery(
        settings.model_copy(update={"broker_url": settings.broker_url or "memory://"})
    )
    try:
        with jobs.reading() as session:
            pending = repository.pending_images_of(session, uuid.UUID(str(task_id)))
        states: list[str | None] = []
        for batch in service.image_jobs(pending, settings.job_pixels):
            finished = run_job(task_id, *(image.image_id for image in batch))
            states += [finished.get(str(image.image_id)) for image in batch]
        return states
    finally:
        jobs.reset_worker_context()


def run_job(task_id: str | uuid.UUID, *image_ids: uuid.UUID) -> dict[str, str]:
    """One delivery of a job of these images, as a worker runs it (in this process): the
    states of the images it finished."""
    finished: dict[str, str] = tasks.process_images(str(task_id), [str(i) for i in image_ids])
    return finished


def counts(settings: Settings) -> dict[str, int]:
    engine = create_engine(settings.effective_database_url)
    try:
        with engine.connect() as connection:
            return {
                table: connection.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one()  # noqa: S608
                for table in ("tasks", "task_images", "image_task")
            }
    finally:
        engine.dispose()


def stored_objects(settings: Settings) -> list[str]:
    root = settings.data_dir / "objects"
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


async def upload(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    files: list[tuple[str, bytes]],
    group: str | None = None,
) -> httpx.Response:
    parts = [("files", (name, data, "application/octet-stream")) for name, data in files]
    data = {"group": group} if group is not None else None
    return await client.post("/upload", files=parts, data=data, headers=headers)
