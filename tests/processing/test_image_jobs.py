"""An image job takes several of a task's images, cut by their pixels (a 1 MP photo's job
spent as long around its pixels as on them): how uploads are cut into jobs, and a job
that meets images another delivery finished, or a message of an earlier version."""

from __future__ import annotations

import uuid

import httpx
import sqlalchemy as sa

from imagehub.core import jobs
from imagehub.core.config import Settings
from imagehub.processing import service, tasks
from imagehub.processing.models import TaskImage
from imagehub.processing.repository import PendingImage
from tests.conftest import client_for, connected, register
from tests.processing import images
from tests.processing.conftest import counts, process_all, run_job, upload

MP = 1_000_000


def _image_ids(settings: Settings, task_id: str) -> list[uuid.UUID]:
    with connected(settings.effective_database_url) as connection:
        rows = connection.scalars(
            sa.select(TaskImage.id)
            .where(TaskImage.task_id == uuid.UUID(task_id))
            .order_by(TaskImage.position)
        )
        return list(rows)


def _cut(sizes: list[int], job_pixels: int = 8 * MP) -> list[list[int]]:
    task = uuid.uuid4()
    pending = [PendingImage(task, uuid.uuid4(), size) for size in sizes]
    return [[image.pixels for image in job] for job in service.image_jobs(pending, job_pixels)]


def test_images_share_a_job_while_their_pixels_fit() -> None:
    assert _cut([MP] * 10) == [[MP] * 8, [MP] * 2]
    assert _cut([3 * MP, 3 * MP, 3 * MP]) == [[3 * MP, 3 * MP], [3 * MP]]
    # A larger image goes alone, and the order of the upload is kept.
    assert _cut([MP, 12 * MP, MP, MP]) == [[MP], [12 * MP], [MP, MP]]
    # However small, at most JOB_IMAGES a job (a retry redoes them all).
    tiny = _cut([100] * 70)
    assert [len(job) for job in tiny] == [service.JOB_IMAGES, service.JOB_IMAGES, 6]
    # 0: one image a job.
    assert _cut([100] * 3, job_pixels=0) == [[100], [100], [100]]
    assert _cut([]) == []


def test_two_tasks_never_share_a_job() -> None:
    first, second = uuid.uuid4(), uuid.uuid4()
    pending = [PendingImage(first, uuid.uuid4(), 10), PendingImage(second, uuid.uuid4(), 10)]
    cut = service.image_jobs(pending, 8 * MP)
    assert [[image.task_id for image in job] for job in cut] == [[first], [second]]


async def test_an_upload_sends_one_job_for_its_small_images(
    client: httpx.AsyncClient, settings: Settings, queue: None
) -> None:
    account = await register(client)
    files = [(f"p{i}.jpg", images.jpeg(640, 480)) for i in range(5)]
    task_id = (await upload(client, account["headers"], files)).json()["task_id"]
    assert jobs.jobs_waiting() == 1
    assert process_all(settings, task_id) == ["done"] * 5
    status = (await client.get(f"/status/{task_id}", headers=account["headers"])).json()
    assert (status["status"], status["done"], status["failed"]) == ("done", 5, 0)


async def test_one_image_a_job_when_the_operator_says_so(
    client: httpx.AsyncClient, settings: Settings, queue: None
) -> None:
    one_each = settings.model_copy(update={"job_pixels": 0})
    async with client_for(one_each) as own:
        account = await register(own)
        files = [(f"p{i}.jpg", images.jpeg()) for i in range(3)]
        await upload(own, account["headers"], files)
    assert jobs.jobs_waiting() == 3


async def test_a_job_finishes_what_an_earlier_delivery_left_and_counts_it_once(
    client: httpx.AsyncClient, settings: Settings, queue: None
) -> None:
    account = await register(client)
    files = [("a.jpg", images.jpeg()), ("b.png", images.png()), ("c.jpg", images.corrupt_jpeg())]
    task_id = (await upload(client, account["headers"], files)).json()["task_id"]
    a, b, c = _image_ids(settings, task_id)
    # A delivery that finished b alone (a worker died after it, say), then the whole job.
    assert run_job(task_id, b) == {str(b): "done"}
    assert run_job(task_id, a, b, c) == {str(a): "done", str(c): "failed"}
    assert run_job(task_id, a, b, c) == {}  # and once more: nothing left
    status = (await client.get(f"/status/{task_id}", headers=account["headers"])).json()
    assert (status["status"], status["done"], status["failed"]) == ("partial", 2, 1)
    # Three originals and the two done images' three variants each, once.
    assert counts(settings) == {"tasks": 1, "task_images": 3, "image_task": 3 + 2 * 3}


async def test_a_job_of_one_image_from_an_earlier_version_is_done(
    client: httpx.AsyncClient, settings: Settings, queue: None
) -> None:
    account = await register(client)
    task_id = (await upload(client, account["headers"], [("a.jpg", images.jpeg())])).json()[
        "task_id"
    ]
    (image_id,) = map(str, _image_ids(settings, task_id))
    assert tasks.process_image(task_id, image_id) == "done"
    assert tasks.process_image(task_id, image_id) is None  # delivered again: already done
    status = (await client.get(f"/status/{task_id}", headers=account["headers"])).json()
    assert status["status"] == "done"
