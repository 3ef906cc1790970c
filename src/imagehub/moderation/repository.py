"""Every query of the moderation domain. Filtering, grouping, counting, sorting and paging
all happen in the database, in a fixed number of statements per request.

Sync code on a `Session`: the worker (uploads entering the queue) and the CLI call it
directly, the API through `session.run_sync` (one hop into the session's greenlet per
request, where awaiting each statement would cost one hop per statement).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Date,
    Row,
    String,
    case,
    cast,
    delete,
    exists,
    func,
    insert,
    literal,
    select,
    tuple_,
    type_coerce,
    update,
)
from sqlalchemy.orm import Session

from imagehub.core.db import dialect_insert, table_of
from imagehub.moderation.models import DayCount, Group, Image, Status, StatusChange

IMAGES = table_of(Image)
STATUS_CHANGES = table_of(StatusChange)
DAY_COUNTS = table_of(DayCount)

# --- Listing groups ---------------------------------------------------------------------


def group_page(
    session: Session, status: Status | None, before_id: int | None, limit: int
) -> list[Group]:
    """Groups newest first (by id); with a status, only groups having such an image."""
    query = select(Group)
    if before_id is not None:
        query = query.where(Group.id < before_id)
    if status is not None:
        query = query.where(exists().where(Image.group_id == Group.id, Image.status == status))
    return list(session.scalars(query.order_by(Group.id.desc()).limit(limit)))


def group_totals(session: Session, group_ids: Sequence[int]) -> dict[int, int]:
    if not group_ids:
        return {}
    rows = session.execute(
        select(Image.group_id, func.count())
        .where(Image.group_id.in_(group_ids))
        .group_by(Image.group_id)
    )
    return {group_id: int(count) for group_id, count in rows}


# id, group id, url, thumbnail url, status, created_at, changed_at, then UPLOAD_COLUMNS.
ImageRow = Row[
    int, int, str, str | None, str, datetime, datetime,
    str | None, uuid.UUID | None, int | None, int | None, int | None,
]  # fmt: skip


# What a tile shows of an upload (all null for an image registered by its URL).
UPLOAD_COLUMNS = ("name", "uploaded_by", "width", "height", "size_bytes")


def images_of(
    session: Session, group_ids: Sequence[int], status: Status | None, order: str
) -> list[ImageRow]:
    """The images of these groups, each group's newest first by `order` (a column name).
    Plain rows, not ORM objects: a page can hold thousands, and rows are several times
    cheaper to build."""
    if not group_ids:
        return []
    images = IMAGES.c
    column: ColumnElement[Any] = images[order]
    # The status as its text, not a Status: the page is written straight to JSON, and
    # pydantic-core writes 1,600 enum members in 1.9 ms where it writes the strings in 0.17.
    status_text = type_coerce(images.status, String())
    query = select(
        images.id,
        images.group_id,
        images.url,
        images.thumbnail_url,
        status_text,
        images.created_at,
        images.changed_at,
        *(images[name] for name in UPLOAD_COLUMNS),
    ).where(images.group_id.in_(group_ids))
    if status is not None:
        query = query.where(images.status == status)
    query = query.order_by(images.group_id.desc(), column.desc(), images.id.desc())
    # On the connection: the session's ORM result machinery would cost more than the query.
    return list(session.connection().execute(query).all())


# --- One image ----------------------------------------------------------------------------


def get_image(session: Session, image_id: int) -> Image | None:
    return session.get(Image, image_id)


def get_group(session: Session, group_id: int) -> Group:
    group = session.get(Group, group_id)
    assert group is not None, "an image's group outlives it (ON DELETE CASCADE)"
    return group


def lock_images(
    session: Session, image_ids: Sequence[int]
) -> list[Row[int, Status, datetime, datetime]]:
    """(id, status, created_at, changed_at) of these images, locked in id order until the
    transaction ends (PostgreSQL; SQLite's write transactions are serial already), so
    concurrent changes apply one after the other."""
    result = session.execute(
        select(Image.id, Image.status, Image.created_at, Image.changed_at)
        .where(Image.id.in_(image_ids))
        .order_by(Image.id)
        .with_for_update()
    )
    return list(result.all())


def set_statuses(session: Session, image_ids: Sequence[int], status: Status, now: datetime) -> None:
    """One UPDATE for them all; changed_at only moves forward (to `now`, or stays where a
    clock ahead of ours put it), as the service computes it for the history."""
    images = IMAGES.c
    forward = case((images.changed_at > now, images.changed_at), else_=now)
    session.execute(
        update(IMAGES).where(images.id.in_(image_ids)).values(status=status, changed_at=forward)
    )


def delete_images(session: Session, image_ids: Sequence[int]) -> None:
    # Their status changes go with them (ON DELETE CASCADE).
    session.execute(delete(Image).where(Image.id.in_(image_ids)))


def add_changes(session: Session, changes: Sequence[dict[str, Any]]) -> None:
    session.execute(insert(STATUS_CHANGES), changes)


def changes_of(session: Session, image_id: int) -> list[StatusChange]:
    rows = session.scalars(
        select(StatusChange).where(StatusChange.image_id == image_id).order_by(StatusChange.id)
    )
    return list(rows)


# --- Statistics ---------------------------------------------------------------------------


KINDS = {"created_at": "created", "changed_at": "changed"}


def count_by_status(session: Session, column: str, since: datetime) -> dict[str, int]:
    """Images per status whose `column` is at or after `since`: whole days from the day
    counts, the first, partial day from the images themselves (an index range of a day)."""
    next_day = _day(since) + timedelta(days=1)
    next_midnight = datetime.combine(next_day, time(), tzinfo=UTC)
    moment: ColumnElement[Any] = getattr(Image, column)
    whole_days = session.execute(
        select(DayCount.status, func.sum(DayCount.count))
        .where(DayCount.kind == KINDS[column], DayCount.day >= next_day)
        .group_by(DayCount.status)
    )
    partial_day = session.execute(
        select(Image.status, func.count())
        .where(moment >= since, moment < next_midnight)
        .group_by(Image.status)
    )
    counts: dict[str, int] = {}
    for status, count in [*whole_days, *partial_day]:
        counts[str(status)] = counts.get(str(status), 0) + int(count)
    return counts


def day_counts_since(session: Session, first_day: date) -> list[Row[str, date, str, int]]:
    """(kind, day, status, count) of every kept day from `first_day` on."""
    rows = session.execute(
        select(DayCount.kind, DayCount.day, DayCount.status, DayCount.count).where(
            DayCount.day >= first_day, DayCount.count != 0
        )
    )
    return list(rows.all())


def images_by_status(session: Session) -> dict[str, int]:
    """Every image by its current status, from the day counts: each image is counted once
    under the day it was created, as it stands."""
    rows = session.execute(
        select(DayCount.status, func.sum(DayCount.count))
        .where(DayCount.kind == "created")
        .group_by(DayCount.status)
    )
    return {str(status): int(count) for status, count in rows}


# --- Day counts -------------------------------------------------------------------------------

DayDeltas = dict[tuple[str, date, str], int]


def _day(moment: datetime) -> date:
    return moment.astimezone(UTC).date()


def count_image(
    deltas: DayDeltas, status: str, created_at: datetime, changed_at: datetime, sign: int
) -> None:
    """Add (sign=1) or take away (sign=-1) one image, as it stands, from the day counts."""
    for kind, moment in (("created", created_at), ("changed", changed_at)):
        key = (kind, _day(moment), str(status))
        deltas[key] = deltas.get(key, 0) + sign


def apply_day_counts(session: Session, deltas: DayDeltas) -> None:
    """One cached statement run as an executemany: a multi-row VALUES would be compiled
    again for every distinct number of rows."""
    # Sorted, so concurrent transactions lock the count rows in the same order (no deadlock).
    rows = [
        {"kind": kind, "day": day, "status": status, "count": delta}
        for (kind, day, status), delta in sorted(deltas.items())
        if delta
    ]
    if not rows:
        return
    statement = dialect_insert(session)(DAY_COUNTS)
    upsert = statement.on_conflict_do_update(
        index_elements=["kind", "day", "status"],
        set_={"count": DAY_COUNTS.c.count + statement.excluded.count},
    )
    session.execute(upsert, rows)


def recount_days(session: Session) -> None:
    """Rebuild the day counts from the images (one statement per kind)."""
    session.execute(delete(DayCount))
    postgres = session.get_bind().dialect.name == "postgresql"
    for column, kind in KINDS.items():
        moment = getattr(Image, column)
        day = cast(func.timezone("UTC", moment), Date) if postgres else func.date(moment)
        session.execute(
            insert(DayCount).from_select(
                ["kind", "day", "status", "count"],
                select(literal(kind), day, Image.status, func.count()).group_by(day, Image.status),
            )
        )


# --- Registering images -------------------------------------------------------------------


def ensure_groups(session: Session, names: Sequence[str], now: datetime) -> dict[str, int]:
    unique = sorted(set(names))
    session.execute(
        dialect_insert(session)(Group)
        .values([{"name": name, "created_at": now} for name in unique])
        .on_conflict_do_nothing(index_elements=["name"])
    )
    rows = session.execute(select(Group.name, Group.id).where(Group.name.in_(unique)))
    return {name: group_id for name, group_id in rows}  # noqa: C416 (a Result is no mapping)


def insert_images(session: Session, rows: Sequence[dict[str, Any]]) -> int:
    """Insert what is new, adding it to the day counts; (group, url) already present is
    left as it is. Returns how many were new."""
    if not rows:
        return 0
    inserted = session.execute(_insert_new(session), rows).all()
    apply_day_counts(session, _deltas_of(inserted))
    return len(inserted)


def statuses_of(session: Session, image_ids: Sequence[int]) -> dict[int, Status]:
    if not image_ids:
        return {}
    rows = session.execute(select(Image.id, Image.status).where(Image.id.in_(image_ids)))
    return {image_id: status for image_id, status in rows}  # noqa: C416 (a Result is no mapping)


def images_by_key(session: Session, keys: Sequence[tuple[int, str]]) -> list[Image]:
    """The images with these (group id, url), in the order asked."""
    found = session.scalars(select(Image).where(tuple_(Image.group_id, Image.url).in_(keys)))
    by_key = {(image.group_id, image.url): image for image in found}
    return [by_key[key] for key in keys]


def _insert_new(session: Session) -> Any:
    """Run with the rows as parameters (an executemany, batched by SQLAlchemy into one
    cached INSERT per batch): a multi-row VALUES would be compiled afresh for every call.
    RETURNING after ON CONFLICT DO NOTHING yields only the rows actually inserted."""
    return (
        dialect_insert(session)(IMAGES)
        .on_conflict_do_nothing(index_elements=["group_id", "url"])
        .returning(IMAGES.c.status, IMAGES.c.created_at, IMAGES.c.changed_at)
    )


def _deltas_of(inserted: Any) -> DayDeltas:
    deltas: DayDeltas = {}
    for status, created_at, changed_at in inserted:
        count_image(deltas, status, created_at, changed_at, +1)
    return deltas
