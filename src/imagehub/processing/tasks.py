"""Celery jobs of processing: one job per uploaded image, the sweep for lost ones,
retention, and the sweep for stored files no task refers to.

Each job is three short transactions around the image work, so no transaction is open
while pixels are decoded, encoded or stored.
"""

import logging
import uuid
from datetime import timedelta

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


@celery_app.task(
    name=service.PROCESS_IMAGE,
    bind=True,
    autoretry_for=RETRY_ON,
    # 1, 2, 4, 8, then every 10 s (jittered), for about five minutes: a job waits at most
    # ten seconds past the database's return. A longer outage is the stall sweep's.
    retry_backoff=1,
    retry_backoff_max=10,
    max_retries=30,
    soft_time_limit=service.JOB_TIME_LIMIT_SECONDS,
)
def process_image(self: Task[..., str | None], task_id: str, image_id: str) -> str | None:
    """Make and store one image's variants; safe to run twice (late acks redeliver).
    Returns the image's final state, or None when a previous run had finished it or its
    task was deleted.
    (The image knows its task; `task_id` rides along so the broker's log names it.)"""
    clock = StageClock()
    clock.note_handoff(self.request.get(service.SENT_AT_HEADER))
    try:
        return _process_image(uuid.UUID(image_id), clock)
    finally:
        clock.report(image_id)


def _process_image(image_id: uuid.UUID, clock: StageClock) -> str | None:
    with clock.stage("read"), jobs.reading() as session:  # no write lock: most jobs only read
        job = service.pending_image(session, image_id)
    if job is None:
        return None
    if job.task_was_pending:  # only a task's first jobs write here
        with clock.stage("start"), jobs.transaction(durable=False) as session:
            service.start_task(session, job)
    context = jobs.worker_context()
    outcome = service.make_and_store_variants(context.storage, context.settings, job, clock)
    # Not durable: a finish lost in a database crash leaves the image pending, and the
    # stall sweep sends its job again (the files are stored again, the same bytes).
    with clock.stage("finish"), jobs.transaction(durable=False) as session:
        finish = service.finish_image(session, job, outcome)
    if finish is service.Finish.TASK_DELETED:  # deleted while this job ran: keep nothing
        service.discard_files(context.storage, job.image.task_id)
        return None
    if finish is service.Finish.FINISHED:
        IMAGES_PROCESSED.labels(job.image.image_format, outcome.state.value).inc()
    return outcome.state.value


@celery_app.task(name="processing.sweep_stalled")
def sweep_stalled() -> int:
    """Beat's look, every minute, for image jobs that were lost."""
    waiting = jobs.jobs_waiting()  # before the transaction: the broker's answer takes a while
    with jobs.transaction() as session:
        stall = jobs.worker_context().settings.task_stall_seconds
        resent = service.sweep_stalled(session, stall, waiting)
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
