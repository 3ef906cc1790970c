"""Every query of the processing domain: async ones for the API, sync ones for workers."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date, datetime
from typing import NamedTuple

from sqlalchemy import and_, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from imagehub.core.db import dialect_insert, table_of
from imagehub.processing.models import (
    ImageState,
    ImageTask,
    Task,
    TaskImage,
    TaskStatus,
    UploadDay,
    UploadKey,
)


class PendingImage(NamedTuple):
    """What sending an image's job takes: its task, its id and its size (jobs are cut by
    pixels)."""

    task_id: uuid.UUID
    image_id: uuid.UUID
    pixels: int


# Core on the tables where a worker writes once per image (see db.table_of).
TASKS = table_of(Task)
TASK_IMAGES = table_of(TaskImage)
IMAGE_TASKS = table_of(ImageTask)

# --- API (async) --------------------------------------------------------------------------


async def add_task(session: AsyncSession, task: Task, images: Sequence[TaskImage]) -> None:
    session.add(task)
    await session.flush()
    session.add_all(images)
    await session.flush()


async def add_files(session: AsyncSession, task_id: uuid.UUID, links: Sequence[str]) -> None:
    session.add_all(ImageTask(task_id=task_id, img_link=link) for link in links)
    await session.flush()


async def upload_key(session: AsyncSession, owner_id: uuid.UUID, key: str) -> UploadKey | None:
    found = await session.execute(
        select(UploadKey).where(UploadKey.owner_id == owner_id, UploadKey.key == key)
    )
    return found.scalar_one_or_none()


async def claim_upload_key(session: AsyncSession, claim: UploadKey, expired: datetime) -> None:
    """Insert the key, replacing one made before `expired`; raises IntegrityError when
    another request holds it (PostgreSQL makes this wait until that request ends)."""
    await session.execute(
        delete(UploadKey).where(
            UploadKey.owner_id == claim.owner_id,
            UploadKey.key == claim.key,
            UploadKey.created_at < expired,
        )
    )
    session.add(claim)
    await session.flush()


async def get_task(session: AsyncSession, task_id: uuid.UUID) -> Task | None:
    return await session.get(Task, task_id)


async def stored_bytes_of(session: AsyncSession, owner_id: uuid.UUID) -> int:
    total = await session.scalar(
        select(func.coalesce(func.sum(TaskImage.size_bytes + TaskImage.variants_bytes), 0)).where(
            TaskImage.owner_id == owner_id
        )
    )
    return int(total or 0)


async def images_uploaded_on(session: AsyncSession, owner_id: uuid.UUID, day: date) -> int:
    count = await session.scalar(
        select(UploadDay.images).where(UploadDay.owner_id == owner_id, UploadDay.day == day)
    )
    return int(count or 0)


async def count_uploaded(
    session: AsyncSession, owner_id: uuid.UUID, day: date, images: int
) -> None:
    await session.execute(
        dialect_insert(session)(UploadDay)
        .values(owner_id=owner_id, day=day, images=images)
        .on_conflict_do_update(
            index_elements=[UploadDay.owner_id, UploadDay.day],
            set_={"images": UploadDay.images + images},
        )
    )


async def task_ids_of(session: AsyncSession, owner_id: uuid.UUID) -> list[uuid.UUID]:
    return list(await session.scalars(select(Task.id).where(Task.owner_id == owner_id)))


async def moderation_images_of(session: AsyncSession, task_ids: Sequence[uuid.UUID]) -> list[int]:
    """The moderation images made of these tasks' uploads."""
    rows = await session.scalars(
        select(TaskImage.moderation_image_id).where(
            TaskImage.task_id.in_(task_ids), TaskImage.moderation_image_id.is_not(None)
        )
    )
    return [image_id for image_id in rows if image_id is not None]


async def existing_tasks(session: AsyncSession, task_ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
    return set(await session.scalars(select(Task.id).where(Task.id.in_(task_ids))))


async def tasks_finished_before(
    session: AsyncSession, before: datetime, limit: int
) -> list[uuid.UUID]:
    """The tasks that finished longest ago, before `before` (only finished ones have a
    `finished_at`)."""
    rows = await session.scalars(
        select(Task.id).where(Task.finished_at < before).order_by(Task.finished_at).limit(limit)
    )
    return list(rows)


async def delete_tasks(session: AsyncSession, task_ids: Sequence[uuid.UUID]) -> None:
    # Their images and file rows go with them (ON DELETE CASCADE).
    await session.execute(delete(Task).where(Task.id.in_(task_ids)))


def lock_task(session: Session, task_id: uuid.UUID) -> bool:
    """Hold the task's row until the transaction ends (a deletion waits for it, or it sees
    the deletion); False when the task is gone."""
    found = session.execute(select(TASKS.c.id).where(TASKS.c.id == task_id).with_for_update())
    return found.first() is not None


async def task_images(session: AsyncSession, task_id: uuid.UUID) -> list[TaskImage]:
    rows = await session.scalars(
        select(TaskImage).where(TaskImage.task_id == task_id).order_by(TaskImage.position)
    )
    return list(rows)


async def stored_links(
    session: AsyncSession, task_ids: Sequence[uuid.UUID]
) -> set[tuple[uuid.UUID, str]]:
    if not task_ids:
        return set()
    rows = await session.execute(
        select(ImageTask.task_id, ImageTask.img_link).where(ImageTask.task_id.in_(task_ids))
    )
    return {(task_id, link) for task_id, link in rows}


async def history_page(
    session: AsyncSession,
    owner_id: uuid.UUID,
    limit: int,
    after: tuple[datetime, uuid.UUID] | None,
) -> list[TaskImage]:
    """A user's images, newest first, keyset-paged on (created_at, id)."""
    query = select(TaskImage).where(TaskImage.owner_id == owner_id)
    if after is not None:
        created_at, image_id = after
        query = query.where(
            or_(
                TaskImage.created_at < created_at,
                and_(TaskImage.created_at == created_at, TaskImage.id < image_id),
            )
        )
    query = query.order_by(TaskImage.created_at.desc(), TaskImage.id.desc()).limit(limit)
    return list(await session.scalars(query))


# --- Workers (sync) -----------------------------------------------------------------------


def pending_images_with_task_status(
    session: Session, task_id: uuid.UUID, image_ids: Sequence[uuid.UUID]
) -> tuple[list[TaskImage], TaskStatus] | None:
    """Those of the images still pending, in upload order, and their task's status, in one
    statement (an image job's only read); None when none is pending or the task is gone."""
    rows = session.execute(
        select(TaskImage, Task.status)
        .join(Task, Task.id == TaskImage.task_id)
        .where(
            TaskImage.task_id == task_id,
            TaskImage.id.in_(image_ids),
            TaskImage.state == ImageState.PENDING,
        )
        .order_by(TaskImage.position)
    ).all()
    if not rows:
        return None
    return [row[0] for row in rows], rows[0][1]


def images_in_state(session: Session, task_id: uuid.UUID, state: ImageState) -> list[TaskImage]:
    rows = session.scalars(
        select(TaskImage)
        .where(TaskImage.task_id == task_id, TaskImage.state == state)
        .order_by(TaskImage.position)
    )
    return list(rows)


def mark_task_processing(session: Session, task_id: uuid.UUID, now: datetime) -> None:
    session.execute(
        update(Task)
        .where(Task.id == task_id, Task.status == TaskStatus.PENDING)
        .values(status=TaskStatus.PROCESSING, updated_at=now)
    )


def record_files(session: Session, task_id: uuid.UUID, links: Sequence[str], now: datetime) -> None:
    """One image_task row per stored file; a retried job adds none twice."""
    if not links:
        return
    statement = dialect_insert(session)(IMAGE_TASKS).on_conflict_do_nothing(
        index_elements=["task_id", "img_link"]
    )
    rows = [
        {"id": uuid.uuid4(), "task_id": task_id, "img_link": link, "created_at": now}
        for link in links
    ]
    session.execute(statement, rows)


def finish_image(
    session: Session,
    image_id: uuid.UUID,
    state: ImageState,
    error: str | None,
    thumbnail: str | None,
    variants_bytes: int,
    now: datetime,
) -> bool:
    """Move a pending image to its final state; False if a previous run already did."""
    images = TASK_IMAGES.c
    result = session.execute(
        update(TASK_IMAGES)
        .where(images.id == image_id, images.state == ImageState.PENDING)
        .values(
            state=state,
            error=error,
            thumbnail=thumbnail,
            variants_bytes=variants_bytes,
            processed_at=now,
        )
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def count_finished_images(
    session: Session, task_id: uuid.UUID, done: int, failed: int, now: datetime
) -> tuple[int, int, int]:
    """Add finished images to the task's counts, atomically; returns (done, failed, total)."""
    tasks = TASKS.c
    row = session.execute(
        update(TASKS)
        .where(tasks.id == task_id)
        .values(
            {
                tasks.done: tasks.done + done,
                tasks.failed: tasks.failed + failed,
                tasks.updated_at: now,
                tasks.status: TaskStatus.PROCESSING,
            }
        )
        .returning(tasks.done, tasks.failed, tasks.total)
    ).one()
    return int(row.done), int(row.failed), int(row.total)


def finish_task(
    session: Session, task_id: uuid.UUID, status: TaskStatus, now: datetime
) -> tuple[uuid.UUID, str | None]:
    """Mark the task finished; returns its (owner, group) for the moderation queue."""
    row = session.execute(
        update(TASKS)
        .where(TASKS.c.id == task_id)
        .values(status=status, finished_at=now, updated_at=now)
        .returning(TASKS.c.owner_id, TASKS.c.group_name)
    ).one()
    return row.owner_id, row.group_name


def queue_frontier(session: Session) -> datetime | None:
    """The latest sending among finished images: how far the workers have got through the
    queue (an index lookup per final state)."""
    latest = [
        session.scalar(select(func.max(TaskImage.queued_at)).where(TaskImage.state == state))
        for state in (ImageState.DONE, ImageState.FAILED)
    ]
    return max((moment for moment in latest if moment is not None), default=None)


def finished_since(session: Session, since: datetime) -> bool:
    """Whether any image finished since `since` (asked only when the sweep has candidates:
    processed_at has no index of its own)."""
    found = session.scalar(select(TaskImage.id).where(TaskImage.processed_at >= since).limit(1))
    return found is not None


def pending_sent_before(session: Session, before: datetime, limit: int) -> list[PendingImage]:
    """Pending images whose job was last sent before `before`, oldest first."""
    rows = session.execute(
        select(TaskImage.task_id, TaskImage.id, TaskImage.width * TaskImage.height)
        .where(TaskImage.state == ImageState.PENDING, TaskImage.queued_at < before)
        .order_by(TaskImage.queued_at, TaskImage.position)
        .limit(limit)
    )
    return [PendingImage(task_id, image_id, int(pixels)) for task_id, image_id, pixels in rows]


def mark_queued(session: Session, image_ids: Sequence[uuid.UUID], now: datetime) -> None:
    session.execute(
        update(TASK_IMAGES).where(TASK_IMAGES.c.id.in_(image_ids)).values(queued_at=now)
    )


def pending_images_of(session: Session, task_id: uuid.UUID) -> list[PendingImage]:
    rows = session.execute(
        select(TaskImage.id, TaskImage.width * TaskImage.height)
        .where(TaskImage.task_id == task_id, TaskImage.state == ImageState.PENDING)
        .order_by(TaskImage.position)
    )
    return [PendingImage(task_id, image_id, int(pixels)) for image_id, pixels in rows]
