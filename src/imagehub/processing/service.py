"""The rules of processing: accept an upload, process its images, report, zip."""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import logging
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import BinaryIO

import anyio.to_thread
import zipstream
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from imagehub.core import pagination
from imagehub.core.config import Settings
from imagehub.core.db import after_commit, after_rollback, utcnow
from imagehub.core.errors import (
    AppError,
    Conflict,
    InvalidInput,
    NotFound,
    PayloadTooLarge,
    TooManyRequests,
)
from imagehub.core.jobs import celery_app
from imagehub.core.storage import ObjectNotFound, Storage
from imagehub.moderation import service as moderation
from imagehub.processing import repository
from imagehub.processing.models import ImageState, Task, TaskImage, TaskStatus, UploadKey, Variant
from imagehub.processing.repository import PendingImage
from imagehub.processing.stages import StageClock
from imagehub.processing.transforms import CorruptImage, EncodeOptions, make_variants
from imagehub.processing.uploads import (
    InspectedImage,
    Limits,
    Refusal,
    inspect_upload,
    unique_names,
)

log = logging.getLogger(__name__)

PROCESS_IMAGES = "processing.process_images"
PROCESS_IMAGE = "processing.process_image"  # one image a job: what earlier versions sent
SENT_AT_HEADER = "imagehub_sent_at"  # an image job's message: when it was sent (Unix time)
# The longest an image job may run (its soft time limit).
JOB_TIME_LIMIT_SECONDS = 300
# An image job takes at most this many images, however small (a retry redoes them all).
JOB_IMAGES = 32
SWEEP_BATCH = 1000


@dataclass(frozen=True)
class Viewer:
    """Who is asking: the owner sees their own tasks, an admin sees every task."""

    id: uuid.UUID
    is_admin: bool

    def may_see(self, owner_id: uuid.UUID) -> bool:
        return self.is_admin or self.id == owner_id


@dataclass
class Upload:
    client_name: str | None
    file: BinaryIO
    size: int


def object_key(task_id: uuid.UUID, link: str) -> str:
    return f"{task_folder(task_id)}/{link}"


def task_folder(task_id: uuid.UUID) -> str:
    """Where every stored file of a task lives: originals, variants, thumbnails."""
    return f"{TASKS_FOLDER}/{task_id}"


def limits_of(settings: Settings) -> Limits:
    return Limits(
        settings.upload_max_files, settings.upload_max_file_bytes, settings.upload_max_pixels
    )


@dataclass(kw_only=True)
class StoredFiles:
    """Which (task, file name) pairs are stored, and what moderation decided of each image:
    what a listing's links and statuses are made from."""

    stored: set[tuple[uuid.UUID, str]]
    decisions: dict[int, moderation.Status] = field(default_factory=dict)

    def has(self, image: TaskImage, variant: Variant) -> bool:
        return (image.task_id, image.file_name(variant)) in self.stored

    def moderation_of(self, image: TaskImage) -> moderation.Status | None:
        if image.moderation_image_id is None:
            return None
        return self.decisions.get(image.moderation_image_id)

    def removed(self, image: TaskImage) -> bool:
        return moderation.is_removed(self.moderation_of(image))


async def _decisions(
    session: AsyncSession, images: Sequence[TaskImage]
) -> dict[int, moderation.Status]:
    ids = [i.moderation_image_id for i in images if i.moderation_image_id is not None]
    if not ids:
        return {}
    return await session.run_sync(moderation.statuses_of, ids)


REMOVED_MANIFEST = "removed-by-moderation.txt"


@dataclass
class TaskView(StoredFiles):
    task: Task
    images: list[TaskImage]


# --- Accepting an upload (API) ------------------------------------------------------------


def _inspect_all(uploads: Sequence[Upload], limits: Limits) -> list[InspectedImage | Refusal]:
    return [inspect_upload(u.client_name, u.file, u.size, limits) for u in uploads]


def _refuse(refusals: list[Refusal]) -> None:
    listed = "; ".join(f"{r.name}: {r.reason}" for r in refusals)
    error_class = PayloadTooLarge if all(r.too_large for r in refusals) else InvalidInput
    raise error_class(
        f"Refused {len(refusals)} file(s), nothing was stored: {listed}",
        name="Invalid upload",
        extra={"files": [r.as_dict() for r in refusals]},
    )


async def accept_upload(
    session: AsyncSession,
    storage: Storage,
    settings: Settings,
    *,
    owner_id: uuid.UUID,
    uploads: Sequence[Upload],
    group: str | None,
    idempotency_key: str | None = None,
) -> TaskView:
    """Check every file, then store the originals, write the rows and queue the images'
    jobs (`image_jobs`).

    All or nothing: one refused file refuses the request, and nothing of it is stored or
    queued. The rows commit before any job is sent (the request's session sends them).
    With an `idempotency_key` the user used within a day for the same files and group, the
    task it made is the answer, and nothing is stored.
    """
    limits = limits_of(settings)
    if not uploads:
        raise InvalidInput("Send one or more images in the `files` field", name="Invalid upload")
    if len(uploads) > limits.max_files:
        raise InvalidInput(
            f"{len(uploads)} files sent; at most {limits.max_files} per request",
            name="Invalid upload",
        )
    inspected = await anyio.to_thread.run_sync(_inspect_all, uploads, limits)
    refusals = [item for item in inspected if isinstance(item, Refusal)]
    if refusals:
        _refuse(refusals)
    images = [item for item in inspected if isinstance(item, InspectedImage)]
    names = unique_names(images)
    claim = None
    if idempotency_key is not None:
        fingerprint = await anyio.to_thread.run_sync(fingerprint_of, uploads, group)
        earlier, claim = await _claim_key(session, owner_id, idempotency_key, fingerprint)
        if earlier is not None:  # a retry of an upload that was made: stores nothing
            return await task_view(session, Viewer(owner_id, is_admin=False), earlier)
    await _check_quotas(session, settings, owner_id, images)

    now = utcnow()
    task = Task(
        id=uuid.uuid4(),
        owner_id=owner_id,
        status=TaskStatus.PENDING,
        group_name=group,
        total=len(images),
        done=0,
        failed=0,
        created_at=now,
        updated_at=now,
    )
    rows = [
        TaskImage(
            id=uuid.uuid4(),
            task_id=task.id,
            owner_id=owner_id,
            position=position,
            name=name,
            stem=image.stem,
            extension=image.extension,
            image_format=image.image_format,
            width=image.width,
            height=image.height,
            size_bytes=image.size_bytes,
            state=ImageState.PENDING,
            created_at=now,
            queued_at=now,
        )
        for position, (image, name) in enumerate(zip(images, names, strict=True))
    ]
    originals = [row.file_name(Variant.ORIGINAL) for row in rows]
    # The originals are stored before the first row is written, so the transaction is
    # open only for the inserts and the commit (on SQLite it holds the one write lock).
    # Should it not commit, the originals already stored go too.
    stored: list[str] = []
    after_rollback(session, lambda: _delete_quietly(storage, stored))
    for link, image in zip(originals, images, strict=True):
        key = object_key(task.id, link)
        await anyio.to_thread.run_sync(storage.put, key, image.file)
        stored.append(key)
    await repository.add_task(session, task, rows)
    await repository.add_files(session, task.id, originals)
    await repository.count_uploaded(session, owner_id, now.date(), len(rows))
    if claim is not None:
        claim.task_id = task.id

    queued = [PendingImage(task.id, row.id, row.width * row.height) for row in rows]
    after_commit(session, lambda: enqueue_images(queued, settings.job_pixels))
    return TaskView(task=task, images=rows, stored={(task.id, link) for link in originals})


@dataclass(frozen=True)
class Usage:
    bytes_stored: int  # originals and their copies
    images_today: int  # uploaded since the UTC day began (deleted ones too)
    next_day_in: int  # seconds until the daily count starts again


async def usage_of(session: AsyncSession, owner_id: uuid.UUID) -> Usage:
    now = utcnow()
    day_began = now.replace(hour=0, minute=0, second=0, microsecond=0)
    next_day_in = int((day_began + timedelta(days=1) - now).total_seconds()) + 1
    return Usage(
        bytes_stored=await repository.stored_bytes_of(session, owner_id),
        images_today=await repository.images_uploaded_on(session, owner_id, day_began.date()),
        next_day_in=next_day_in,
    )


async def _check_quotas(
    session: AsyncSession, settings: Settings, owner_id: uuid.UUID, images: list[InspectedImage]
) -> None:
    """Refuse an upload that would pass the user's quotas, before anything is stored. Two
    uploads at once may both pass (the check is not a lock): a quota is held to within one
    upload."""
    by_day, by_bytes = settings.quota_images_per_day, settings.quota_bytes_per_user
    if by_day is None and by_bytes is None:
        return
    usage = await usage_of(session, owner_id)
    if by_day is not None and usage.images_today + len(images) > by_day:
        raise TooManyRequests(
            f"Daily upload quota: {by_day} images a day; {usage.images_today} uploaded today, "
            f"this upload has {len(images)}; the day's count starts again in "
            f"{usage.next_day_in} s (UTC midnight)",
            retry_after=usage.next_day_in,
            name="Quota exceeded",
            extra={"quota": "images_per_day", "limit": by_day, "used": usage.images_today},
        )
    incoming = sum(image.size_bytes for image in images)
    if by_bytes is not None and usage.bytes_stored + incoming > by_bytes:
        raise PayloadTooLarge(
            f"Storage quota: {by_bytes} bytes; {usage.bytes_stored} stored, this upload adds "
            f"{incoming}; delete some tasks to make room",
            name="Quota exceeded",
            extra={"quota": "bytes_stored", "limit": by_bytes, "used": usage.bytes_stored},
        )


# How long an upload's Idempotency-Key stands for the task it made.
IDEMPOTENCY_WINDOW = timedelta(hours=24)


class KeyReused(AppError):
    status_code = 422
    name = "Idempotency key reused"

    def __init__(self) -> None:
        super().__init__(
            "This Idempotency-Key was used in the last 24 h for an upload of other files "
            "(or another group); send a new key for a new upload"
        )


def fingerprint_of(uploads: Sequence[Upload], group: str | None) -> str:
    """A digest of what the upload asks for: its group, and each file's name and bytes."""
    digest = hashlib.sha256(json.dumps(group).encode())
    for upload in uploads:
        content = hashlib.sha256()
        upload.file.seek(0)
        while chunk := upload.file.read(1024 * 1024):
            content.update(chunk)
        upload.file.seek(0)
        digest.update(json.dumps([upload.client_name, content.hexdigest()]).encode())
    return digest.hexdigest()


async def _claim_key(
    session: AsyncSession, owner_id: uuid.UUID, key: str, fingerprint: str
) -> tuple[uuid.UUID | None, UploadKey | None]:
    """The task an earlier request with this key made, or the claim of the key for this
    one. The claim is written before the originals are stored, so a concurrent twin waits
    for this request's end (PostgreSQL: on the key's row; SQLite: on its one write lock)
    and then finds the task."""
    expired = utcnow() - IDEMPOTENCY_WINDOW
    for _ in range(2):  # a twin may take the key between our look and our claim
        earlier = await repository.upload_key(session, owner_id, key)
        if earlier is not None and earlier.created_at >= expired:
            if earlier.fingerprint != fingerprint:
                raise KeyReused()
            return earlier.task_id, None
        claim = UploadKey(owner_id=owner_id, key=key, fingerprint=fingerprint, created_at=utcnow())
        try:
            async with session.begin_nested():
                await repository.claim_upload_key(session, claim, expired)
        except IntegrityError:
            continue
        return None, claim
    raise Conflict("Another upload with this Idempotency-Key is under way; try again")


def _delete_quietly(storage: Storage, keys: list[str]) -> None:
    for key in keys:
        try:
            storage.delete(key)
        except Exception:
            log.exception("could not delete %s after a failed upload", key)


def image_jobs(images: Sequence[PendingImage], job_pixels: int) -> list[list[PendingImage]]:
    """Images in the order given, cut into jobs: a job takes the next ones while their pixels
    together stay within `job_pixels` (a larger image goes alone) and they are of one task,
    JOB_IMAGES at most. A 1 MP photo's job spent as long around its pixels as on them."""
    batches: list[list[PendingImage]] = []
    pixels = 0
    for image in images:
        batch = batches[-1] if batches else None
        if (
            batch is None
            or batch[0].task_id != image.task_id
            or pixels + image.pixels > job_pixels
            or len(batch) == JOB_IMAGES
        ):
            batches.append([image])
            pixels = image.pixels
        else:
            batch.append(image)
            pixels += image.pixels
    return batches


def enqueue_images(images: Sequence[PendingImage], job_pixels: int) -> None:
    sent_at = {SENT_AT_HEADER: time.time()}  # the worker times the broker's round trip by it
    for batch in image_jobs(images, job_pixels):
        args = [str(batch[0].task_id), [str(image.image_id) for image in batch]]
        celery_app.send_task(PROCESS_IMAGES, args=args, headers=sent_at)


# --- Deleting (API) -----------------------------------------------------------------------


async def delete_task(
    session: AsyncSession, storage: Storage, viewer: Viewer, task_id: uuid.UUID
) -> None:
    """A task with every byte of it (see `_delete_tasks`)."""
    task = await _visible_task(session, viewer, task_id)
    await _delete_tasks(session, storage, [task.id])


async def delete_tasks_of(session: AsyncSession, storage: Storage, owner_id: uuid.UUID) -> int:
    """Every task of this user, each as `DELETE /task/{id}` would (an account being
    deleted); how many there were."""
    task_ids = await repository.task_ids_of(session, owner_id)
    for start in range(0, len(task_ids), DELETE_BATCH):
        await _delete_tasks(session, storage, task_ids[start : start + DELETE_BATCH])
    return len(task_ids)


# Tasks a statement names at most, and images (500 tasks of up to 100 images each would
# pass SQLite's 32,766 bound parameters in one list).
DELETE_BATCH = 500
IMAGES_PER_STATEMENT = 1000


async def delete_expired_tasks(
    session: AsyncSession, storage: Storage, retention_days: int, limit: int
) -> int:
    """Up to `limit` of the tasks that finished more than `retention_days` ago, each as
    `DELETE /task/{id}` would; how many (fewer than `limit`: none are left)."""
    before = utcnow() - timedelta(days=retention_days)
    task_ids = await repository.tasks_finished_before(session, before, limit)
    if task_ids:
        await _delete_tasks(session, storage, task_ids)
        log.info(
            "retention: deleting %d task(s) finished before %s (%d days)",
            len(task_ids),
            before.isoformat(timespec="seconds"),
            retention_days,
        )
    return len(task_ids)


async def _delete_tasks(
    session: AsyncSession, storage: Storage, task_ids: Sequence[uuid.UUID]
) -> None:
    """Tasks with every byte of them: their rows, the moderation images made of their
    uploads, and, once that has committed, their stored files. A job of them still running
    stores nothing that stays (`finish_image` finds its task gone)."""
    queued = await repository.moderation_images_of(session, task_ids)
    for start in range(0, len(queued), IMAGES_PER_STATEMENT):
        chunk = queued[start : start + IMAGES_PER_STATEMENT]
        await session.run_sync(moderation.remove_uploaded, chunk)
    await repository.delete_tasks(session, task_ids)
    for task_id in task_ids:
        after_commit(session, functools.partial(discard_files, storage, task_id))


TASKS_FOLDER = "tasks"


def task_folders(storage: Storage) -> dict[uuid.UUID, datetime]:
    """Every task folder in storage, with when its newest object was written (read outside
    any transaction: a big bucket takes a while to list)."""
    folders: dict[uuid.UUID, datetime] = {}
    for folder, changed in storage.last_changes_by_folder(TASKS_FOLDER).items():
        name = folder.removeprefix(f"{TASKS_FOLDER}/")
        try:
            task_id = uuid.UUID(name)
        except ValueError:
            task_id = None
        if task_id is None or str(task_id) != name:  # not a folder of ours: leave it be
            log.warning("orphan sweep: %s is not a task's folder; left alone", folder)
            continue
        folders[task_id] = changed
    return folders


async def orphaned_tasks(
    session: AsyncSession, folders: dict[uuid.UUID, datetime], grace: timedelta
) -> list[uuid.UUID]:
    """The folders no task refers to, untouched for longer than `grace`: an upload stores
    its originals before its transaction commits, so a younger folder may be one on its way
    (and an older one was left by a process that died before committing)."""
    quiet_since = utcnow() - grace
    candidates = [task_id for task_id, changed in folders.items() if changed < quiet_since]
    orphans: list[uuid.UUID] = []
    for start in range(0, len(candidates), DELETE_BATCH):
        batch = candidates[start : start + DELETE_BATCH]
        existing = await repository.existing_tasks(session, batch)
        orphans.extend(task_id for task_id in batch if task_id not in existing)
    return orphans


def discard_files(storage: Storage, task_id: uuid.UUID) -> None:
    removed = storage.delete_under(task_folder(task_id))
    log.info("deleted task %s: %d stored file(s) removed", task_id, removed)


# --- Reading (API) ------------------------------------------------------------------------


async def _visible_task(session: AsyncSession, viewer: Viewer, task_id: uuid.UUID) -> Task:
    task = await repository.get_task(session, task_id)
    if task is None or not viewer.may_see(task.owner_id):
        raise NotFound(f"No task with id {task_id}", name="Task not found")
    return task


async def task_view(session: AsyncSession, viewer: Viewer, task_id: uuid.UUID) -> TaskView:
    task = await _visible_task(session, viewer, task_id)
    images = await repository.task_images(session, task.id)
    stored = await repository.stored_links(session, [task.id])
    decisions = await _decisions(session, images)
    return TaskView(task=task, images=images, stored=stored, decisions=decisions)


@dataclass
class HistoryPage(StoredFiles):
    images: list[TaskImage]
    next_cursor: str | None


HISTORY_CURSOR = "history"


async def history(
    session: AsyncSession, viewer: Viewer, user_id: uuid.UUID, cursor: str | None, limit: int
) -> HistoryPage:
    if not viewer.may_see(user_id):
        raise NotFound(f"No history for user {user_id}", name="User not found")
    after = None
    if cursor:
        created_at, image_id = pagination.decode(HISTORY_CURSOR, cursor, (datetime, uuid.UUID))
        after = (created_at, image_id)
    rows = await repository.history_page(session, user_id, limit + 1, after)
    images, more = rows[:limit], len(rows) > limit
    next_cursor = None
    if more:
        last = images[-1]
        next_cursor = pagination.encode(HISTORY_CURSOR, last.created_at, str(last.id))
    stored = await repository.stored_links(session, sorted({i.task_id for i in images}))
    decisions = await _decisions(session, images)
    return HistoryPage(images=images, stored=stored, decisions=decisions, next_cursor=next_cursor)


@dataclass
class ZipArchive:
    filename: str
    size: int
    chunks: Iterator[bytes]


async def task_zip(
    session: AsyncSession, storage: Storage, viewer: Viewer, task_id: uuid.UUID
) -> ZipArchive:
    """Every stored file of a finished task, zipped without compression (the images are
    compressed already) and streamed, with its exact size known up front."""
    view = await task_view(session, viewer, task_id)
    if not view.task.status.finished:
        raise Conflict(
            f"Task {task_id} is still {view.task.status}; the zip is ready once it finishes",
            name="Task not finished",
        )
    kept = [image for image in view.images if not view.removed(image)]
    links = [
        image.file_name(variant)
        for image in kept
        for variant in Variant
        if view.has(image, variant)
    ]
    keys = [object_key(task_id, link) for link in links]
    # The sizes first (all at once: on S3 each is a round trip), for the exact length.
    sizes = await asyncio.gather(*(storage.size(key) for key in keys))
    archive = zipstream.ZipStream(compress_type=zipstream.ZIP_STORED, sized=True)
    for link, key, size in zip(links, keys, sizes, strict=True):
        archive.add(storage.stream(key), link, size=size)  # a generator: read when sent
    removed = [image.name for image in view.images if view.removed(image)]
    if removed:  # said inside the zip, so the archive explains itself
        manifest = "Left out: removed by moderation\n" + "".join(f"{n}\n" for n in removed)
        archive.add(manifest.encode(), REMOVED_MANIFEST)
    return ZipArchive(f"task-{task_id}.zip", len(archive), iter(archive))


async def file_for_download(
    session: AsyncSession, viewer: Viewer, task_id: uuid.UUID, link: str
) -> str:
    """The storage key of one stored file (or the thumbnail) of a visible task."""
    view = await task_view(session, viewer, task_id)
    image = next((i for i in view.images if link in _names_of(i)), None)
    if image is None or ((task_id, link) not in view.stored and link != image.thumbnail):
        raise NotFound(f"Task {task_id} has no file {link}", name="File not found")
    if view.removed(image) and not viewer.is_admin:
        raise NotFound(f"{image.name} was removed by moderation", name="Removed by moderation")
    return object_key(task_id, link)


def _names_of(image: TaskImage) -> set[str]:
    names = {image.file_name(variant) for variant in Variant}
    return names | {image.thumbnail} if image.thumbnail else names


# --- Processing (workers): the steps a task sequences, each in its own transaction ---------


@dataclass(frozen=True)
class ImageJob:
    """A job's images still waiting for their variants, and whether their task had not
    started yet."""

    task_id: uuid.UUID
    images: list[TaskImage]
    task_was_pending: bool


def pending_images(
    session: Session, task_id: uuid.UUID, image_ids: Sequence[uuid.UUID]
) -> ImageJob | None:
    """What is left to do of a job: None when a previous delivery finished its images (late
    acks deliver a job again after a worker died) or their task is gone."""
    found = repository.pending_images_with_task_status(session, task_id, image_ids)
    if found is None:
        return None
    images, task_status = found
    return ImageJob(task_id, images, task_status is TaskStatus.PENDING)


def start_task(session: Session, job: ImageJob) -> None:
    repository.mark_task_processing(session, job.task_id, utcnow())


@dataclass(frozen=True)
class Outcome:
    state: ImageState
    error: str | None = None
    links: tuple[str, ...] = ()  # the files stored, by name
    thumbnail: str | None = None  # the thumbnail's file name
    stored_bytes: int = 0  # what the copies stored take


def make_and_store_variants(
    storage: Storage, settings: Settings, image: TaskImage, clock: StageClock
) -> Outcome:
    """Decode the stored original, make its variants and store them (no database here).
    Storing again on a rerun writes the same bytes under the same keys."""
    try:
        with clock.stage("fetch"):
            original = storage.read(object_key(image.task_id, image.file_name(Variant.ORIGINAL)))
    except ObjectNotFound:  # the task was deleted since the job began, most likely
        return Outcome(ImageState.FAILED, "the original is no longer stored")
    options = EncodeOptions(
        settings.jpeg_quality, settings.png_compress_level, settings.thumbnail_max_side
    )
    try:
        with clock.stage("pipeline"):
            made = make_variants(original, image.image_format, options, settings.upload_max_pixels)
    except CorruptImage as error:
        return Outcome(ImageState.FAILED, str(error)[:500])
    # Each file by its stage's name: (storage key, bytes).
    files = {
        v.value: (object_key(image.task_id, image.file_name(v)), data)
        for v, data in made.variants.items()
    }
    thumbnail = None
    if made.thumbnail is not None:
        thumbnail = image.thumbnail_name(made.thumbnail.extension)
        files["thumbnail"] = (object_key(image.task_id, thumbnail), made.thumbnail.data)
    with clock.stage("store"):  # all of them: at once on S3, so less than their sum
        took = storage.put_all(dict(files.values()))
    for label, (key, _) in files.items():
        clock.record("store_" + label, took[key])
    links = tuple(image.file_name(v) for v in made.variants)
    stored_bytes = sum(len(data) for _, data in files.values())
    return Outcome(ImageState.DONE, links=links, thumbnail=thumbnail, stored_bytes=stored_bytes)


def finish_images(
    session: Session, task_id: uuid.UUID, outcomes: Sequence[tuple[TaskImage, Outcome]]
) -> list[tuple[TaskImage, Outcome]] | None:
    """Record the images' files and states and count them in their task; the task's last
    image finishes the task and sends its processed originals to moderation. Returns the
    images this delivery finished (another may have finished some first), or None when the
    task was deleted while the job ran: what the job stored must go too (`discard_files`)."""
    now = utcnow()
    if not repository.lock_task(session, task_id):
        return None
    links = [link for _, outcome in outcomes for link in outcome.links]
    repository.record_files(session, task_id, links, now)
    finished = [
        (image, outcome)
        for image, outcome in outcomes
        if repository.finish_image(
            session,
            image.id,
            outcome.state,
            outcome.error,
            outcome.thumbnail,
            outcome.stored_bytes,
            now,
        )
    ]
    if not finished:
        return finished
    newly_done = sum(outcome.state is ImageState.DONE for _, outcome in finished)
    done, failed, total = repository.count_finished_images(
        session, task_id, newly_done, len(finished) - newly_done, now
    )
    if done + failed == total:
        owner_id, group = repository.finish_task(session, task_id, final_status(done, failed), now)
        _send_to_moderation(session, task_id, group or default_group(owner_id), now)
    return finished


def default_group(owner_id: uuid.UUID) -> str:
    return f"uploads of user {owner_id}"


def _send_to_moderation(session: Session, task_id: uuid.UUID, group: str, now: datetime) -> None:
    """A finished upload's processed originals enter the moderation queue as `new`, in the
    upload's group or the uploader's own (same transaction as the task's last count)."""
    images = repository.images_in_state(session, task_id, ImageState.DONE)
    originals = [
        moderation.UploadedOriginal(
            object_key(task_id, image.file_name(Variant.ORIGINAL)),
            object_key(task_id, image.thumbnail) if image.thumbnail else None,
            name=image.name,
            uploaded_by=image.owner_id,
            width=image.width,
            height=image.height,
            size_bytes=image.size_bytes,
        )
        for image in images
    ]
    ids = moderation.add_uploaded_originals(session, group, originals, now)
    for image, moderation_id in zip(images, ids, strict=True):
        image.moderation_image_id = moderation_id  # its decisions reach the owner


def final_status(done: int, failed: int) -> TaskStatus:
    if failed == 0:
        return TaskStatus.DONE
    return TaskStatus.FAILED if done == 0 else TaskStatus.PARTIAL


def sweep_stalled(session: Session, stall_seconds: int, jobs_waiting: int, job_pixels: int) -> int:
    """Send again the jobs of pending images that are really lost (the broker was down at
    upload, or lost a message), never those only waiting in a backlog. An image is lost
    when its job was sent more than `stall_seconds` ago and either nothing waits in the
    queue (so its message is not there) and no image finished for `stall_seconds` (so no
    worker holds it), or the queue has moved past it: an image sent longer than a job's
    time limit after it has already finished. Returns how many."""
    now = utcnow()
    sent_before = now - timedelta(seconds=stall_seconds)
    if jobs_waiting:
        frontier = repository.queue_frontier(session)
        if frontier is None:
            return 0  # nothing has finished yet: the queue is still ahead of everything
        sent_before = min(sent_before, frontier - timedelta(seconds=JOB_TIME_LIMIT_SECONDS))
    lost = repository.pending_sent_before(session, sent_before, SWEEP_BATCH)
    if not lost:
        return 0
    if not jobs_waiting and repository.finished_since(session, sent_before):
        # An empty queue while workers still finish images: the pending ones may be those
        # the workers hold (taken from the queue, not done yet). Lost jobs are sent again
        # once the workers have been idle for the stall time.
        return 0
    repository.mark_queued(session, [image.image_id for image in lost], now)
    by_task: dict[uuid.UUID, list[PendingImage]] = {}
    for image in lost:
        by_task.setdefault(image.task_id, []).append(image)
    for task_id, images in by_task.items():
        log.warning("task %s: %d image(s) lost; sending their jobs again", task_id, len(images))
    # A task's images side by side, so that they share jobs as they did when uploaded.
    in_tasks = [image for images in by_task.values() for image in images]
    after_commit(session, functools.partial(enqueue_images, in_tasks, job_pixels))
    return len(lost)
