"""The rules of moderation: groups and their images, statuses, their history, statistics.

Sync, on a `Session` (see `repository`): the API runs these with `session.run_sync`.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy.orm import Session

from imagehub.core import pagination
from imagehub.core.db import utcnow
from imagehub.core.errors import InvalidInput, NotFound
from imagehub.core.fields import MAX_ID, ascii_int
from imagehub.moderation import repository
from imagehub.moderation.models import Group, Image, Status, StatusChange

# Other domains (processing: what the owner sees of a decision) name statuses through here.
__all__ = ["Status"]

MAX_BATCH = 1000
STORAGE_SCHEME = "storage:"
MAX_DAYS = 3650


class InvalidStatus(InvalidInput):
    name = "Invalid status"

    def __init__(self) -> None:
        super().__init__(f"Valid statuses are {[s.value for s in Status]}")


class InvalidId(InvalidInput):
    name = "Invalid id"

    def __init__(self, what: str = "Image", description: str | None = None) -> None:
        super().__init__(description or f"{what} ids are positive 64-bit integers")

    @classmethod
    def naming(cls, bad: Sequence[str]) -> InvalidId:
        listed = ", ".join(repr(b) for b in bad[:20]) + (" ..." if len(bad) > 20 else "")
        error = cls(description=f"Image ids are positive 64-bit integers, not {listed}")
        error.extra = {"ids": list(bad)}
        return error


def image_not_found(image_id: int) -> NotFound:
    return NotFound(f"No image with id {image_id}", name="Image not found")


def parse_status(value: object) -> Status:
    try:
        return Status(str(value))
    except ValueError as error:
        raise InvalidStatus() from error


def parse_id(value: object, what: str = "Image") -> int:
    """A positive 64-bit integer, from a path segment or JSON; anything else is a 400."""
    try:
        number = ascii_int(value)
    except ValueError as error:
        raise InvalidId(what) from error
    if not 1 <= number <= MAX_ID:
        raise InvalidId(what)
    return number


# --- Groups -------------------------------------------------------------------------------


@dataclass
class GroupView:
    group: Group
    total: int
    images: list[repository.ImageRow]


@dataclass
class GroupPage:
    groups: list[GroupView]
    next_cursor: str | None


class Sort(StrEnum):
    """The order of a group's images, newest first: by last change or by creation."""

    CHANGED_AT = "changed_at"
    CREATED_AT = "created_at"


def _cursor_kind(status: Status | None, sort: Sort) -> str:
    # A cursor belongs to one listing: reusing it with another filter or sort is refused.
    return f"groups:{status or '*'}:{sort}"


def group_page(
    session: Session, *, status: Status | None, sort: Sort, cursor: str | None, limit: int
) -> GroupPage:
    """A page of groups, newest first, each with its images; three queries, whatever the
    page size: the page of groups, their totals, their images."""
    kind = _cursor_kind(status, sort)
    before_id = pagination.decode(kind, cursor, (int,))[0] if cursor else None
    groups = repository.group_page(session, status, before_id, limit + 1)
    more = len(groups) > limit
    groups = groups[:limit]
    ids = [group.id for group in groups]
    totals = repository.group_totals(session, ids)
    by_group: dict[int, list[repository.ImageRow]] = {group_id: [] for group_id in ids}
    for image in repository.images_of(session, ids, status, sort.value):
        by_group[image.group_id].append(image)
    views = [GroupView(group, totals.get(group.id, 0), by_group[group.id]) for group in groups]
    next_cursor = pagination.encode(kind, groups[-1].id) if more and groups else None
    return GroupPage(views, next_cursor)


# --- One image ----------------------------------------------------------------------------


def get_image(session: Session, image_id: int) -> tuple[Image, Group]:
    image = repository.get_image(session, image_id)
    if image is None:
        raise image_not_found(image_id)
    group = repository.get_group(session, image.group_id)
    return image, group


@dataclass(frozen=True)
class Actor:
    id: uuid.UUID
    email: str


def change_status(session: Session, image_id: int, status: Status, actor: Actor) -> None:
    """Set an image's status and record the change. Concurrent changes of one image apply
    one after the other (row lock), each recorded, the last one winning."""
    current = repository.lock_images(session, [image_id])
    if not current:
        raise image_not_found(image_id)
    _record_changes(session, current, status, actor)


def change_statuses(
    session: Session, raw_ids: Sequence[object], status: Status, actor: Actor
) -> int:
    """Set many images' status at once, in this one transaction, each change recorded as a
    single change would be; an unknown or malformed id refuses them all, naming them."""
    malformed = [str(raw) for raw in raw_ids if not _is_id(raw)]
    if malformed:
        raise InvalidId.naming(malformed)
    ids = sorted({parse_id(raw) for raw in raw_ids})  # locked in id order: no deadlock
    current = repository.lock_images(session, ids)
    unknown = sorted(set(ids) - {image_id for image_id, *_ in current})
    if unknown:
        listed = ", ".join(map(str, unknown[:20])) + (" ..." if len(unknown) > 20 else "")
        raise NotFound(
            f"No image with id {listed}: nothing was changed",
            name="Image not found",
            extra={"ids": unknown},
        )
    _record_changes(session, current, status, actor)
    return len(current)


def _record_changes(
    session: Session,
    current: Sequence[tuple[int, Status, datetime, datetime]],
    status: Status,
    actor: Actor,
) -> None:
    """Set the status of these locked images (id, status, created_at, changed_at), record
    each change and move the day counts, in a fixed number of statements."""
    now = utcnow()
    changes: list[dict[str, Any]] = []
    deltas: repository.DayDeltas = {}
    for image_id, previous, created_at, changed_before in current:
        # changed_at only moves forward, even across API hosts whose clocks differ a little;
        # the row is locked, so this max is what the database would compute.
        changed_at = max(now, changed_before)
        changes.append(
            {
                "image_id": image_id,
                "from_status": previous,
                "to_status": status,
                "changed_by": actor.id,
                "changed_by_email": actor.email,
                "changed_at": changed_at,
            }
        )
        repository.count_image(deltas, previous, created_at, changed_before, sign=-1)
        repository.count_image(deltas, status, created_at, changed_at, sign=+1)
    repository.set_statuses(session, [row[0] for row in current], status, now)
    repository.add_changes(session, changes)
    repository.apply_day_counts(session, deltas)


def _is_id(raw: object) -> bool:
    try:
        parse_id(raw)
    except InvalidId:
        return False
    return True


def history(session: Session, image_id: int) -> list[StatusChange]:
    if repository.get_image(session, image_id) is None:
        raise image_not_found(image_id)
    return repository.changes_of(session, image_id)


# --- Statistics -----------------------------------------------------------------------------


def statistics(session: Session, days: int, by: str) -> dict[str, int]:
    """Images per current status among those whose `by` (changed_at: `/images/stats/`;
    created_at: `/statistics`) falls in the last `days` x 24 h; every status present."""
    counts = repository.count_by_status(session, by, utcnow() - timedelta(days=days))
    return {status.value: counts.get(status.value, 0) for status in Status}


@dataclass
class Day:
    day: date
    created: dict[str, int]  # images created that day, by their status now
    changed: dict[str, int]  # images whose last change was that day, by the status it set


@dataclass
class Trend:
    days: list[Day]
    backlog: int  # new + review, now


def daily(session: Session, days: int) -> Trend:
    """The last `days` UTC days, today included, each with its counts (every status, every
    day present, zeros too), from the per-day counts kept beside the images."""
    today = utcnow().date()
    first = today - timedelta(days=days - 1)
    counted: dict[tuple[str, date], dict[str, int]] = {}
    for kind, day, status, count in repository.day_counts_since(session, first):
        counted.setdefault((kind, day), {})[str(status)] = int(count)

    def of(kind: str, day: date) -> dict[str, int]:
        found = counted.get((kind, day), {})
        return {status.value: found.get(status.value, 0) for status in Status}

    every_day = [first + timedelta(days=n) for n in range(days)]
    totals = repository.images_by_status(session)
    return Trend(
        days=[Day(day, of("created", day), of("changed", day)) for day in every_day],
        backlog=totals.get(Status.NEW.value, 0) + totals.get(Status.REVIEW.value, 0),
    )


# --- Registering images -------------------------------------------------------------------


@dataclass(frozen=True)
class NewImage:
    group: str
    url: str
    status: Status = Status.NEW
    created_at: datetime | None = None


@dataclass
class Registration:
    images: list[Image]  # every image asked for, in the order asked
    added: int  # how many of them were new


def register(session: Session, items: Sequence[NewImage]) -> Registration:
    """Add images collected elsewhere; groups are made on the fly; an image already known
    in its group (same URL) is returned as it is, so a retried batch adds nothing."""
    if not items:
        raise InvalidInput("Send one image or a list of them")
    if len(items) > MAX_BATCH:
        raise InvalidInput(f"At most {MAX_BATCH} images per request")
    now = utcnow()
    groups = repository.ensure_groups(session, [item.group for item in items], now)
    rows: dict[tuple[int, str], dict[str, Any]] = {}
    for item in items:
        created = (item.created_at or now).astimezone(UTC)
        group_id = groups[item.group]
        row = {
            "group_id": group_id,
            "url": item.url,
            "status": item.status,
            "created_at": created,
            "changed_at": created,
        }
        rows.setdefault((group_id, item.url), row)
    added = repository.insert_images(session, list(rows.values()))
    keys = [(groups[item.group], item.url) for item in items]
    return Registration(repository.images_by_key(session, keys), added)


@dataclass(frozen=True)
class UploadedOriginal:
    key: str  # in storage
    thumbnail_key: str | None
    name: str
    uploaded_by: uuid.UUID
    width: int
    height: int
    size_bytes: int


def add_uploaded_originals(
    session: Session, group: str, originals: Sequence[UploadedOriginal], created_at: datetime
) -> list[int]:
    """The processing hook: a finished upload's originals enter the queue as `new`.
    Returns their image ids, in order."""
    if not originals:
        return []
    group_id = repository.ensure_groups(session, [group], created_at)[group]
    repository.insert_images(
        session,
        [
            {
                "group_id": group_id,
                "url": STORAGE_SCHEME + original.key,
                "thumbnail_url": (
                    STORAGE_SCHEME + original.thumbnail_key if original.thumbnail_key else None
                ),
                "name": original.name,
                "uploaded_by": original.uploaded_by,
                "width": original.width,
                "height": original.height,
                "size_bytes": original.size_bytes,
                "status": Status.NEW,
                "created_at": created_at,
                "changed_at": created_at,
            }
            for original in originals
        ],
    )
    keys = [(group_id, STORAGE_SCHEME + original.key) for original in originals]
    return [image.id for image in repository.images_by_key(session, keys)]


def remove_uploaded(session: Session, image_ids: Sequence[int]) -> None:
    """The processing hook for a deleted upload: its images leave the queue (their change
    history with them), and the statistics stop counting them, in the caller's transaction."""
    if not image_ids:
        return
    deltas: repository.DayDeltas = {}
    for _, status, created_at, changed_at in repository.lock_images(session, image_ids):
        repository.count_image(deltas, status, created_at, changed_at, -1)
    repository.apply_day_counts(session, deltas)
    repository.delete_images(session, image_ids)


def statuses_of(session: Session, image_ids: Sequence[int]) -> dict[int, Status]:
    """The current status of each of these images (the uploads' owners ask)."""
    return repository.statuses_of(session, image_ids)


def is_removed(status: Status | None) -> bool:
    """A `deleted` image is removed from everyone's sight but the staff's."""
    return status is Status.DELETED


def recount(session: Session) -> None:
    """Rebuild the per-day counts behind the statistics from the images themselves."""
    repository.recount_days(session)
