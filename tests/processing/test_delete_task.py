"""DELETE /task/{id}: every byte of a task goes, in storage (the local folder and S3) and in
the database, moderation's queue and statistics included; a job still running keeps
nothing."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI

from imagehub.accounts.models import Role
from imagehub.core.config import Settings
from imagehub.core.storage import Storage
from imagehub.moderation.models import DayCount, Image
from imagehub.processing import service
from tests.conftest import assert_error, connected, make_settings, promote, register
from tests.processing import images
from tests.processing.conftest import counts, process_all, upload

NOTHING = {"tasks": 0, "task_images": 0, "image_task": 0}


@pytest.fixture(params=["local", "s3"])
def settings(request: pytest.FixtureRequest, tmp_path: Path, clean_database: str) -> Settings:
    if request.param == "local":
        return make_settings(tmp_path, database_url=clean_database, broker_url="memory://")
    from tests.conftest import s3_settings

    moto, bucket = request.getfixturevalue("moto_s3"), request.getfixturevalue("s3_bucket")
    return s3_settings(tmp_path, moto, bucket, database_url=clean_database, broker_url="memory://")


def stored(settings: Settings) -> list[str]:
    """Every object in the configured storage (folder or bucket)."""
    return sorted(Storage.from_settings(settings).keys_under("tasks"))


def queued(settings: Settings) -> tuple[int, int]:
    """(moderation images, images the statistics count as created)."""
    with connected(settings.effective_database_url) as connection:
        images_left = connection.scalar(sa.select(sa.func.count()).select_from(Image))
        counted = connection.scalar(
            sa.select(sa.func.coalesce(sa.func.sum(DayCount.count), 0)).where(
                DayCount.kind == "created"
            )
        )
    return int(images_left or 0), int(counted or 0)


async def finished_task(client: httpx.AsyncClient, settings: Settings, headers: Any) -> str:
    files = [("a.jpg", images.jpeg()), ("b.png", images.png())]
    task_id = str((await upload(client, headers, files, "holiday")).json()["task_id"])
    assert process_all(settings, task_id) == ["done", "done"]
    return task_id


async def test_a_deleted_task_leaves_nothing_behind(
    client: httpx.AsyncClient, app: FastAPI, settings: Settings
) -> None:
    owner = await register(client)
    kept = await register(client, "other@example.com")
    mine = await finished_task(client, settings, owner["headers"])
    theirs = await finished_task(client, settings, kept["headers"])
    assert len(stored(settings)) == 2 * 2 * 5  # two tasks, two images: 4 files + thumbnail
    assert queued(settings) == (4, 4)

    assert_error(await client.delete(f"/task/{mine}", headers=kept["headers"]), 404)
    assert_error(await client.delete(f"/task/{mine}"), 401)
    assert (await client.delete(f"/task/{mine}", headers=owner["headers"])).status_code == 204
    assert all(key.startswith(f"tasks/{theirs}/") for key in stored(settings))
    assert len(stored(settings)) == 10  # the other task's, untouched
    assert queued(settings) == (2, 2)  # moderation's queue and statistics forgot them
    assert counts(settings) == {"tasks": 1, "task_images": 2, "image_task": 8}
    assert_error(await client.delete(f"/task/{mine}", headers=owner["headers"]), 404)
    assert_error(await client.get(f"/status/{mine}", headers=owner["headers"]), 404)

    # An admin may delete anyone's task.
    admin = await register(client, "admin@example.com")
    await promote(app, "admin@example.com", Role.ADMIN)
    assert (await client.delete(f"/task/{theirs}", headers=admin["headers"])).status_code == 204
    assert stored(settings) == []
    assert counts(settings) == NOTHING
    assert queued(settings) == (0, 0)


async def test_a_task_deleted_while_its_job_runs_keeps_nothing(
    client: httpx.AsyncClient, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The job has stored its variants when the owner deletes the task: the job's end finds
    the task gone and removes what it stored."""
    variants_stored, deletion_done = threading.Event(), threading.Event()
    make_and_store = service.make_and_store_variants

    def storing_then_waiting(*args: Any) -> service.Outcome:
        outcome = make_and_store(*args)
        variants_stored.set()
        assert deletion_done.wait(20)
        return outcome

    monkeypatch.setattr(service, "make_and_store_variants", storing_then_waiting)
    owner = await register(client)
    body = (await upload(client, owner["headers"], [("a.jpg", images.jpeg())])).json()
    task_id = body["task_id"]
    job = asyncio.create_task(asyncio.to_thread(process_all, settings, task_id))
    assert await asyncio.to_thread(variants_stored.wait, 20)
    assert len(stored(settings)) == 5  # the original, three variants, the thumbnail
    deleted = await client.delete(f"/task/{task_id}", headers=owner["headers"])
    assert deleted.status_code == 204
    deletion_done.set()
    assert await job == [None]
    assert stored(settings) == []
    assert counts(settings) == NOTHING
    assert queued(settings) == (0, 0)
