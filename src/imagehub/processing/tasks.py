"""Celery jobs of processing: image jobs (a few of an upload's images each), the sweep
for lost ones, retention, and the sweep for stored files no task refers to.

An image job is at most three short transactions around the image work, so no
transaction is open while pixels are decoded, encoded or stored.
"""

import logging
import uuid
from datetime import timedelta
from typing import Any

from celery import Task

from imagehub.core import jobs
from imagehub.core.db import DATABASE_UNAVAILABLE, AsyncDatabase
from imagehub.core.jobs import celery_app
from imagehub.core.metrics import IMAGES_PROCESSED, JOBS_RESENT
from imagehub.processing import service
from imagehub.processing.stages import StageClock

log = logging.getLogger(__name__)

# Failures worth another try: the database or the storage away for a while. A corrupt
# image is not one: the service marks it failed and the job ends normally.
RETRY_ON: tuple[type[Exception], ...] = (
    OSError,
    ConnectionError,
    TimeoutError,
    *DATABASE_UNAVAILABLE,
)


# An image job is tried again as a whole: after 1, 2, 4, 8, then every 10 s (jittered),
# for about five minutes, so it waits at most ten seconds past the database's return. A
# longer outage is the stall sweep's.
IMAGE_JOB: dict[str, Any] = {
    "bind": True,
    "autoretry_for": RETRY_ON,
    "retry_backoff": 1,
    "retry_backoff_max": 10,
    "max_retries": 30,
    "soft_time_limit": service.JOB_TIME_LIMIT_SECONDS,
}


@celery_app.task(name=service.PROCESS_IMAGES, **IMAGE_JOB)
def process_images(
    self: Task[..., dict[str, str]], task_id: str, image_ids: list[str]
) -> dict[str, str]:
    """Make and store the variants of some of a task's images (`service.image_jobs`); safe
    to run twice (late acks redeliver). Returns the final state of each image this delivery
    finished: none when a previous one had, or the task was deleted."""
    clock = StageClock()
    clock.note_handoff(self.request.get(service.SENT_AT_HEADER))
    try:
        return _process_images(uuid.UUID(task_id), [uuid.UUID(i) for i in image_ids], clock)
    finally:
        clock.report(f"{len(image_ids)} image(s) of task {task_id}")


@celery_app.task(name=service.PROCESS_IMAGE, **IMAGE_JOB)
def process_image(self: Task[..., str | None], task_id: str, image_id: str) -> str | None:
    """A job of one image, as earlier versions sent them: those still queued at an upgrade
    are done, not left to the stall sweep."""
    finished: dict[str, str] = process_images(task_id, [image_id])
    return finished.get(image_id)


def _process_images(
    task_id: uuid.UUID, image_ids: list[uuid.UUID], clock: StageClock
) -> dict[str, str]:
    with clock.stage("read"), jobs.reading() as session:  # no write lock: most jobs only read
        job = service.pending_images(session, task_id, image_ids)
    if job is None:
        return {}
    if job.task_was_pending:  # only a task's first jobs write here
        with clock.stage("start"), jobs.transaction(durable=False) as session:
            service.start_task(session, job)
    context = jobs.worker_context()
    outcomes = [
        (image, service.make_and_store_variants(context.storage, context.settings, image, clock))
        for image in job.images
    ]
    # Not durable: a finish lost in a database crash leaves the images pending, and the
    # stall sweep sends their jobs again (the files are stored again, the same bytes).
    with clock.stage("finish"), jobs.transaction(durable=False) as session:
        finished = service.finish_images(session, task_id, outcomes)
    if finished is None:  # deleted while this job ran: keep nothing
        service.discard_files(context.storage, task_id)
        return {}
    for image, outcome in finished:
        IMAGES_PROCESSED.labels(image.image_format, outcome.state.value).inc()
    return {str(image.id): outcome.state.value for image, outcome in finished}


@celery_app.task(name="processing.sweep_stalled")
def sweep_stalled() -> int:
    """Beat's look, every minute, for image jobs that were lost."""
    waiting = jobs.jobs_waiting()  # before the transaction: the broker's answer takes a while
    context = jobs.worker_context()
    with jobs.transaction() as session:
        stall = context.settings.task_stall_seconds
        resent = service.sweep_stalled(session, stall, waiting, context.settings.job_pixels)
    JOBS_RESENT.inc(resent)
    return resent


@celery_app.task(name="processing.delete_expired_tasks")
def delete_expired_tasks() -> int:
    """Beat's hourly retention: finished tasks older than IMAGEHUB_TASK_RETENTION_DAYS go,
    a batch per transaction (their files once it has committed); how many went."""
    context = jobs.worker_context()
    retention_days = context.settings.task_retention_days
    if retention_days is None:
        return 0

    limit = service.DELETE_BATCH

    async def delete_batches(database: AsyncDatabase) -> int:
        removed = 0
        while True:
            async with database.transaction() as session:
                batch = await service.delete_expired_tasks(
                    session, context.storage, retention_days, limit
                )
            removed += batch
            if batch < limit:
                return removed

    return jobs.run_async(delete_batches)


@celery_app.task(name="processing.sweep_orphans")
def sweep_orphans() -> int:
    """Beat's look, every 6 hours, for task folders in storage that no task refers to (an
    API process died between storing an upload and committing it); how many it removed."""
    context = jobs.worker_context()
    folders = service.task_folders(context.storage)
    grace = timedelta(seconds=context.settings.orphan_grace_seconds)

    async def find(database: AsyncDatabase) -> list[uuid.UUID]:
        async with database.transaction() as session:
            return await service.orphaned_tasks(session, folders, grace)

    orphans = jobs.run_async(find)
    for task_id in orphans:
        service.discard_files(context.storage, task_id)
    log.info("orphan sweep: %d of %d task folder(s) had no task", len(orphans), len(folders))
    return len(orphans)
