"""DELETE /task/{id} and DELETE /users/me (and `imagehub user delete`): every byte of a task
or an account goes, in storage (the local folder and S3) and in the database, moderation's
queue and statistics included; a job still running keeps nothing."""

from __future__ import annotations

import asyncio
import logging
import threading
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI

from imagehub.accounts.models import Role
from imagehub.core import jobs
from imagehub.core.config import Settings
from imagehub.core.db import utcnow
from imagehub.core.storage import Storage
from imagehub.moderation.models import DayCount, Image
from imagehub.processing import service, tasks
from imagehub.processing.models import Task, TaskImage
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


def moderation_ids(settings: Settings, task_id: str) -> list[int]:
    with connected(settings.effective_database_url) as connection:
        rows = connection.execute(
            sa.select(TaskImage.moderation_image_id).where(TaskImage.task_id == uuid.UUID(task_id))
        )
        return sorted(row[0] for row in rows if row[0] is not None)


async def delete_account(
    client: httpx.AsyncClient, headers: Any, password: str | None
) -> httpx.Response:
    body = None if password is None else {"password": password}
    return await client.request("DELETE", "/users/me", headers=headers, json=body)


async def test_a_deleted_account_leaves_nothing_of_its_own_and_its_decisions_stay(
    client: httpx.AsyncClient, app: FastAPI, settings: Settings
) -> None:
    leaving = await register(client, "leaving@example.com")
    staying = await register(client, "staying@example.com")
    for _ in range(2):
        await finished_task(client, settings, leaving["headers"])
    theirs = await finished_task(client, settings, staying["headers"])
    # The leaving user, a moderator too, decided on the other user's upload.
    await promote(app, "leaving@example.com", Role.MODERATOR)
    decided = moderation_ids(settings, theirs)[0]
    changed = await client.put(
        f"/images/{decided}", headers=leaving["headers"], json={"status": "review"}
    )
    assert changed.status_code == 200, changed.text
    assert len(stored(settings)) == 3 * 10
    assert queued(settings) == (6, 6)

    assert_error(await delete_account(client, leaving["headers"], None), 400)
    assert_error(await delete_account(client, leaving["headers"], ""), 400)
    wrong = await delete_account(client, leaving["headers"], "not my password")
    assert "password" in assert_error(wrong, 403)["description"]
    assert_error(await delete_account(client, None, "correct horse battery"), 401)
    assert len(stored(settings)) == 30
    assert queued(settings) == (6, 6)

    assert (
        await delete_account(client, leaving["headers"], "correct horse battery")
    ).status_code == 204
    assert all(key.startswith(f"tasks/{theirs}/") for key in stored(settings))
    assert len(stored(settings)) == 10
    assert queued(settings) == (2, 2)
    assert counts(settings) == {"tasks": 1, "task_images": 2, "image_task": 8}
    assert_error(await client.get("/users/me", headers=leaving["headers"]), 401)
    login = await client.post(
        "/login", json={"email": "leaving@example.com", "password": "correct horse battery"}
    )
    assert_error(login, 401)
    # The decision the deleted moderator made stays, naming them.
    await promote(app, "staying@example.com", Role.MODERATOR)
    history = await client.get(f"/images/{decided}/history", headers=staying["headers"])
    assert [(c["to_status"], c["changed_by"]) for c in history.json()] == [
        ("review", "leaving@example.com")
    ]


async def test_guessing_the_password_to_delete_an_account_is_throttled(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    account = await register(client)
    await finished_task(client, settings, account["headers"])
    for _ in range(settings.login_max_failures):
        assert_error(await delete_account(client, account["headers"], "a guess"), 403)
    refused = await delete_account(client, account["headers"], "correct horse battery")
    assert_error(refused, 429)
    assert int(refused.headers["Retry-After"]) > 0
    assert len(stored(settings)) == 10  # throttled: the right password waits too


async def test_the_cli_deletes_an_account_with_its_files(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    from tests.platform.test_cli import invoke

    account = await register(client, "leaving@example.com")
    await finished_task(client, settings, account["headers"])
    env = {
        "IMAGEHUB_DATA_DIR": str(settings.data_dir),
        "IMAGEHUB_DATABASE_URL": settings.effective_database_url,
        "IMAGEHUB_STORAGE_URL": settings.effective_storage_url,
    }
    if settings.s3_endpoint_url and settings.s3_secret_access_key:
        env["IMAGEHUB_S3_ENDPOINT_URL"] = settings.s3_endpoint_url
        env["IMAGEHUB_S3_ACCESS_KEY_ID"] = str(settings.s3_access_key_id)
        env["IMAGEHUB_S3_SECRET_ACCESS_KEY"] = settings.s3_secret_access_key.get_secret_value()
    result = await invoke(["user", "delete", "leaving@example.com", "--yes"], env)
    assert result.exit_code == 0, result.output
    assert "1 task" in result.output
    assert stored(settings) == []
    assert counts(settings) == NOTHING
    assert queued(settings) == (0, 0)


def run_retention(settings: Settings, days: int | None) -> int:
    """Beat's retention job, run here as a worker runs it, with IMAGEHUB_TASK_RETENTION_DAYS."""
    jobs.configure_celery(settings.model_copy(update={"task_retention_days": days}))
    try:
        removed: int = tasks.delete_expired_tasks()
        return removed
    finally:
        jobs.reset_worker_context()


def age(settings: Settings, task_id: str, days: int) -> None:
    """Make a task look as if it had been created (and, if finished, had finished) `days`
    ago."""
    when = utcnow() - timedelta(days=days)
    with connected(settings.effective_database_url) as connection:
        values = {
            "created_at": when,
            "finished_at": sa.case((Task.finished_at.is_(None), None), else_=when),
        }
        connection.execute(sa.update(Task).where(Task.id == uuid.UUID(task_id)).values(**values))
        connection.commit()


async def test_retention_deletes_the_tasks_finished_longer_ago_in_batches(
    client: httpx.AsyncClient,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    owner = await register(client)
    expired = [await finished_task(client, settings, owner["headers"]) for _ in range(3)]
    recent = await finished_task(client, settings, owner["headers"])
    unfinished = (await upload(client, owner["headers"], [("a.jpg", images.jpeg())])).json()
    for task_id in expired:
        age(settings, task_id, 31)
    age(settings, recent, 29)
    age(settings, unfinished["task_id"], 100)  # old, but never finished: kept
    kept = [k for k in stored(settings) if not k.startswith(tuple(f"tasks/{t}/" for t in expired))]
    assert len(stored(settings)) == len(kept) + 30

    assert await asyncio.to_thread(run_retention, settings, None) == 0  # off by default
    assert len(stored(settings)) == len(kept) + 30
    monkeypatch.setattr(service, "DELETE_BATCH", 2)
    with caplog.at_level(logging.INFO, logger="imagehub.processing.service"):
        assert await asyncio.to_thread(run_retention, settings, 30) == 3
    assert stored(settings) == kept
    assert queued(settings) == (2, 2)  # the recent task's; the unfinished one is not queued yet
    assert counts(settings)["tasks"] == 2
    batches = [r.getMessage() for r in caplog.records if r.getMessage().startswith("retention")]
    assert [m.split(" finished")[0] for m in batches] == [
        "retention: deleting 2 task(s)",
        "retention: deleting 1 task(s)",
    ]
    assert await asyncio.to_thread(run_retention, settings, 30) == 0
