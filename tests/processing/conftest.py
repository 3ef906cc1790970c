from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from imagehub.config import Settings
from imagehub.db import create_sync_engine, sync_session_scope, sync_sessionmaker_for
from imagehub.processing import repository, service
from imagehub.storage import Storage
from tests.conftest import make_settings


@pytest.fixture
def settings(tmp_path: Path, clean_database: str) -> Settings:
    # An in-process broker: jobs are published for real; tests run them with process_all().
    return make_settings(tmp_path, database_url=clean_database, broker_url="memory://")


def process_all(settings: Settings, task_id: str | uuid.UUID) -> list[Any]:
    """Run the task's pending image jobs here, as a worker would."""
    engine = create_sync_engine(settings.effective_database_url)
    factory = sync_sessionmaker_for(engine)
    readers = sync_sessionmaker_for(engine, read_only=True)
    storage = Storage.from_settings(settings)

    def scope(read_only: bool = False) -> Any:
        return sync_session_scope(readers if read_only else factory)

    try:
        with sync_session_scope(factory) as session:
            image_ids = repository.pending_image_ids(session, uuid.UUID(str(task_id)))
        return [
            service.process_image(scope, storage, settings, uuid.UUID(str(task_id)), i)
            for i in image_ids
        ]
    finally:
        engine.dispose()


def counts(settings: Settings) -> dict[str, int]:
    engine = create_sync_engine(settings.effective_database_url)
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
