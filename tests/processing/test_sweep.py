"""The stall sweep sends again only the image jobs that were really lost, judged per image
by when its job was sent, the broker's count of waiting jobs and how far the queue has got;
never the ones waiting in a backlog. Run through the worker's own task function."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import httpx
import sqlalchemy as sa
from prometheus_client import REGISTRY

from imagehub.core import jobs
from imagehub.core.config import Settings
from imagehub.core.db import utcnow
from imagehub.processing import tasks
from imagehub.processing.models import TaskImage, TaskStatus
from tests.conftest import connected, register
from tests.processing import images
from tests.processing.conftest import process_all, upload


def sweep() -> int:
    count: int = tasks.sweep_stalled()
    return count


def sent(settings: Settings, task_id: str, ago: timedelta) -> None:
    """The task's images' jobs were sent that long ago."""
    _images_at(settings, task_id, queued_at=utcnow() - ago)


def finished(settings: Settings, task_id: str, ago: timedelta) -> None:
    """The task's images finished that long ago."""
    _images_at(settings, task_id, processed_at=utcnow() - ago)


def _images_at(settings: Settings, task_id: str, **moments: datetime) -> None:
    with connected(settings.effective_database_url) as connection:
        connection.execute(
            sa.update(TaskImage).where(TaskImage.task_id == uuid.UUID(task_id)).values(**moments)
        )


async def new_task(client: httpx.AsyncClient, headers: dict[str, str]) -> str:
    task_id: str = (await upload(client, headers, [("a.jpg", images.jpeg())])).json()["task_id"]
    return task_id


async def test_a_tasks_lost_images_are_sent_again_sharing_jobs(
    client: httpx.AsyncClient, settings: Settings, queue: None
) -> None:
    account = await register(client)
    files = [(f"p{i}.jpg", images.jpeg()) for i in range(4)]
    task_id = (await upload(client, account["headers"], files)).json()["task_id"]
    jobs.celery_app.control.purge()  # the broker lost the message
    sent(settings, task_id, timedelta(hours=1))
    assert sweep() == 4  # images
    assert jobs.jobs_waiting() == 1  # in one job, as when they were uploaded
    assert process_all(settings, task_id) == ["done"] * 4


async def test_a_lost_job_is_sent_again_once(
    client: httpx.AsyncClient, settings: Settings, queue: None
) -> None:
    account = await register(client)
    task_id = await new_task(client, account["headers"])
    assert jobs.jobs_waiting() == 1
    jobs.celery_app.control.purge()  # the broker lost the message
    assert sweep() == 0  # just sent: left alone
    sent(settings, task_id, timedelta(hours=1))
    resent_before = REGISTRY.get_sample_value("imagehub_sweep_jobs_resent_total") or 0
    assert sweep() == 1  # nothing waits in the queue: the job is lost
    assert jobs.jobs_waiting() == 1
    assert REGISTRY.get_sample_value("imagehub_sweep_jobs_resent_total") == resent_before + 1
    assert sweep() == 0  # sent again just now: not again
    process_all(settings, task_id)
    status = (await client.get(f"/status/{task_id}", headers=account["headers"])).json()
    assert status["status"] == TaskStatus.DONE


async def test_a_backlog_is_not_sent_again(
    client: httpx.AsyncClient, settings: Settings, queue: None
) -> None:
    account = await register(client)
    waiting = [await new_task(client, account["headers"]) for _ in range(3)]
    for task_id in waiting:
        sent(settings, task_id, timedelta(hours=2))  # waiting long, behind a slow queue
    assert jobs.jobs_waiting() == 3
    assert sweep() == 0  # their messages wait in the queue, and nothing passed them
    assert jobs.jobs_waiting() == 3


async def test_a_job_the_queue_moved_past_is_lost(
    client: httpx.AsyncClient, settings: Settings, queue: None
) -> None:
    account = await register(client)
    lost = await new_task(client, account["headers"])
    jobs.celery_app.control.purge()  # its message is gone
    later = await new_task(client, account["headers"])
    process_all(settings, later)  # a job sent after it has finished...
    jobs.celery_app.control.purge()  # (its message taken by the worker that did it)
    behind = await new_task(client, account["headers"])  # ...and another waits in the queue
    sent(settings, lost, timedelta(hours=1))
    sent(settings, later, timedelta(minutes=50))  # ten minutes later: past the time limit
    sent(settings, behind, timedelta(hours=1))  # waiting, but sent before `later`
    assert jobs.jobs_waiting() == 1
    # Both old ones qualify by age; the queue has moved past both (`later` is done), so
    # both are taken as lost: `behind`'s message still waits, a second one is harmless.
    assert sweep() == 2
    sent(settings, behind, timedelta(minutes=55))
    sent(settings, lost, timedelta(minutes=55))
    assert sweep() == 0  # sent within the time limit before `later`: may still come


async def test_an_empty_queue_while_workers_still_finish_sends_nothing_yet(
    client: httpx.AsyncClient, settings: Settings, queue: None
) -> None:
    """The queue just drained, but a worker holds the last jobs (taken, not yet done): while
    images still finish, the old pending ones are not lost, only held."""
    account = await register(client)
    done = await new_task(client, account["headers"])
    process_all(settings, done)
    held = await new_task(client, account["headers"])
    jobs.celery_app.control.purge()  # taken from the queue by a worker still at it
    sent(settings, held, timedelta(hours=1))
    finished(settings, done, timedelta(seconds=5))  # the workers are busy
    assert jobs.jobs_waiting() == 0
    assert sweep() == 0
    finished(settings, done, timedelta(hours=1))  # idle for longer than the stall time
    assert sweep() == 1
