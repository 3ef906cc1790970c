"""DELETE /task/{id} and DELETE /users/me (and `imagehub user delete`): every byte of a task
or an account goes, in storage (the local folder and S3) and in the database, moderation's
queue and statistics included; a job still running keeps nothing."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterator
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
from tests.conftest import (
    TEST_SECRET,
    assert_error,
    connected,
    free_port,
    make_settings,
    promote,
    register,
)
from tests.platform.processes import (
    healthy,
    imagehub_env,
    start_imagehub,
    stop_process_tree,
    wait_for,
)
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


def storage_settings(settings: Settings) -> dict[str, str]:
    """The database and storage of these settings, as another process is told them."""
    named = {
        "database_url": settings.effective_database_url,
        "storage_url": settings.effective_storage_url,
    }
    if settings.s3_endpoint_url and settings.s3_secret_access_key:
        named["s3_endpoint_url"] = settings.s3_endpoint_url
        named["s3_access_key_id"] = str(settings.s3_access_key_id)
        named["s3_secret_access_key"] = settings.s3_secret_access_key.get_secret_value()
    return named


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
    client: httpx.AsyncClient, app: FastAPI, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(service, "IMAGES_PER_STATEMENT", 3)  # 4 images: two statements
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
    named = {"data_dir": str(settings.data_dir), **storage_settings(settings)}
    env = {f"IMAGEHUB_{name.upper()}": value for name, value in named.items()}
    result = await invoke(["user", "delete", "leaving@example.com", "--yes"], env)
    assert result.exit_code == 0, result.output
    assert "1 task" in result.output
    assert stored(settings) == []
    assert counts(settings) == NOTHING
    assert queued(settings) == (0, 0)


def as_worker(settings: Settings, job: Callable[[], int], **settings_changed: Any) -> int:
    """A beat job run here as a worker runs it, with these settings changed."""
    jobs.configure_celery(settings.model_copy(update=settings_changed))
    try:
        return job()
    finally:
        jobs.reset_worker_context()


def run_retention(settings: Settings, days: int | None) -> int:
    return as_worker(settings, tasks.delete_expired_tasks, task_retention_days=days)


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


@contextlib.contextmanager
def tasks_locked(database_url: str) -> Iterator[None]:
    """No one may write a task until this ends (an upload's commit waits on it)."""
    if database_url.startswith("sqlite"):
        connection = sqlite3.connect(database_url.removeprefix("sqlite:///"), isolation_level=None)
        connection.execute("BEGIN IMMEDIATE")  # the one write lock
        try:
            yield
        finally:
            connection.rollback()
            connection.close()
        return
    with connected(database_url) as locking:
        locking.execute(sa.text("LOCK TABLE tasks IN EXCLUSIVE MODE"))
        yield


def test_an_upload_whose_api_died_before_committing_is_swept_after_the_grace(
    tmp_path: Path, settings: Settings
) -> None:
    """The hard way: a real API process stores an upload's original, waits for the
    database to commit, and is killed there. Its folder has no task; the sweep leaves it
    while it is young and removes it after the grace; a committed task's folder stays."""
    port = free_port()
    env = imagehub_env(
        tmp_path / "api",
        broker_url="memory://",
        secret_key=TEST_SECRET,
        port=str(port),
        **storage_settings(settings),
    )
    log = tmp_path / "api.log"
    api = start_imagehub(["api", "--workers", "1"], env, log)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: healthy(base), 60, "/healthz", log)
        account = {"email": "crash@example.com", "password": "correct horse battery"}
        token = httpx.post(f"{base}/registration", json=account).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        files = {"files": ("kept.jpg", images.jpeg(), "image/jpeg")}
        committed = httpx.post(f"{base}/upload", headers=headers, files=files, timeout=30)
        assert committed.status_code == 202, committed.text
        kept = stored(settings)
        assert len(kept) == 1

        with tasks_locked(settings.effective_database_url):
            files = {"files": ("lost.jpg", images.jpeg(), "image/jpeg")}
            threading.Thread(
                target=_post_quietly, args=(f"{base}/upload", headers, files), daemon=True
            ).start()
            wait_for(lambda: len(stored(settings)) == 2, 10, "the original stored", log)
            os.killpg(api.pid, signal.SIGKILL)
            api.wait(10)
    finally:
        stop_process_tree(api)
    assert counts(settings)["tasks"] == 1
    assert len(stored(settings)) == 2
    # Folders that are not a task's (another tool's, a hand-made copy) are never touched.
    storage = Storage.from_settings(settings)
    strangers = ["tasks/backup/a.jpg", f"tasks/{uuid.uuid4().hex}/a.jpg"]
    for key in strangers:
        storage.put(key, b"not ours")
    kept = sorted([*kept, *strangers])

    assert as_worker(settings, tasks.sweep_orphans) == 0  # younger than the hour's grace
    time.sleep(1.1)
    assert as_worker(settings, tasks.sweep_orphans, orphan_grace_seconds=1) == 1
    assert stored(settings) == kept


def _post_quietly(url: str, headers: dict[str, str], files: Any) -> None:
    with contextlib.suppress(httpx.HTTPError):  # the server is killed under it
        httpx.post(url, headers=headers, files=files, timeout=30)
