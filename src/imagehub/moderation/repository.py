"""Every query of the moderation domain. Filtering, grouping, counting, sorting and paging
all happen in the database, in a fixed number of statements per request."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Date,
    Row,
    cast,
    delete,
    exists,
    func,
    insert,
    literal,
    select,
    tuple_,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from imagehub.db import dialect_insert, table_of
from imagehub.moderation.models import DayCount, Group, Image, Status, StatusChange

IMAGES = table_of(Image)
STATUS_CHANGES = table_of(StatusChange)
DAY_COUNTS = table_of(DayCount)

# --- Listing groups ---------------------------------------------------------------------


async def group_page(
    session: AsyncSession, status: Status | None, before_id: int | None, limit: int
) -> list[Group]:
    """Groups newest first (by id); with a status, only groups having such an image."""
    query = select(Group)
    if before_id is not None:
        query = query.where(Group.id < before_id)
    if status is not None:
        query = query.where(exists().where(Image.group_id == Group.id, Image.status == status))
    return list(await session.scalars(query.order_by(Group.id.desc()).limit(limit)))


async def group_totals(session: AsyncSession, group_ids: Sequence[int]) -> dict[int, int]:
    if not group_ids:
        return {}
    rows = await session.execute(
        select(Image.group_id, func.count())
        .where(Image.group_id.in_(group_ids))
        .group_by(Image.group_id)
    )
    return {group_id: int(count) for group_id, count in rows}


ImageRow = Row[int, int, str, str, datetime, datetime]


async def images_of(
    session: AsyncSession, group_ids: Sequence[int], status: Status | None, order: str
) -> list[ImageRow]:
    """The images of these groups, each group's newest first by `order` (a column name).
    Plain rows, not ORM objects: a page can hold thousands, and rows are several times
    cheaper to build."""
    if not group_ids:
        return []
    images = IMAGES.c
    column: ColumnElement[Any] = images[order]
    query = select(
        images.id, images.group_id, images.url, images.status, images.created_at, images.changed_at
    ).where(images.group_id.in_(group_ids))
    if status is not None:
        query = query.where(images.status == status)
    query = query.order_by(images.group_id.desc(), column.desc(), images.id.desc())
    # On the connection: the session's ORM result machinery would cost more than the query.
    connection = await session.connection()
    return list((await connection.execute(query)).all())


# --- One image ----------------------------------------------------------------------------


async def get_image(session: AsyncSession, image_id: int) -> Image | None:
    return await session.get(Image, image_id)


async def lock_image(
    session: AsyncSession, image_id: int
) -> Row[Status, datetime, datetime] | None:
    """The image's (status, created_at, changed_at), locked until the transaction ends
    (PostgreSQL; SQLite's write transactions are serial already), so concurrent changes
    apply one after the other."""
    result = await session.execute(
        select(Image.status, Image.created_at, Image.changed_at)
        .where(Image.id == image_id)
        .with_for_update()
    )
    return result.one_or_none()


async def set_status(
    session: AsyncSession, image_id: int, status: Status, changed_at: datetime
) -> None:
    await session.execute(
        update(IMAGES).where(IMAGES.c.id == image_id).values(status=status, changed_at=changed_at)
    )


async def add_change(session: AsyncSession, change: dict[str, Any]) -> None:
    await session.execute(insert(STATUS_CHANGES), change)


async def changes_of(session: AsyncSession, image_id: int) -> list[StatusChange]:
    rows = await session.scalars(
        select(StatusChange).where(StatusChange.image_id == image_id).order_by(StatusChange.id)
    )
    return list(rows)


# --- Statistics ---------------------------------------------------------------------------


KINDS = {"created_at": "created", "changed_at": "changed"}


async def count_by_status(session: AsyncSession, column: str, since: datetime) -> dict[str, int]:
    """Images per status whose `column` is at or after `since`: whole days from the day
    counts, the first, partial day from the images themselves (an index range of a day)."""
    next_day = _day(since) + timedelta(days=1)
    next_midnight = datetime.combine(next_day, time(), tzinfo=UTC)
    moment: ColumnElement[Any] = getattr(Image, column)
    whole_days = await session.execute(
        select(DayCount.status, func.sum(DayCount.count))
        .where(DayCount.kind == KINDS[column], DayCount.day >= next_day)
        .group_by(DayCount.status)
    )
    partial_day = await session.execute(
        select(Image.status, func.count())
        .where(moment >= since, moment < next_midnight)
        .group_by(Image.status)
    )
    counts: dict[str, int] = {}
    for status, count in [*whole_days, *partial_day]:
        counts[str(status)] = counts.get(str(status), 0) + int(count)
    return counts


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


def _day_count_upsert(
    session: AsyncSession | Session, deltas: DayDeltas
) -> tuple[Any, list[dict[str, Any]]]:
    """One cached statement and its rows, run as an executemany: a multi-row VALUES would
    be compiled again for every distinct number of rows."""
    # Sorted, so concurrent transactions lock the count rows in the same order (no deadlock).
    rows = [
        {"kind": kind, "day": day, "status": status, "count": delta}
        for (kind, day, status), delta in sorted(deltas.items())
        if delta
    ]
    statement = dialect_insert(session)(DAY_COUNTS)
    return statement.on_conflict_do_update(
        index_elements=["kind", "day", "status"],
        set_={"count": DAY_COUNTS.c.count + statement.excluded.count},
    ), rows


async def apply_day_counts(session: AsyncSession, deltas: DayDeltas) -> None:
    statement, rows = _day_count_upsert(session, deltas)
    if rows:
        await session.execute(statement, rows)


def apply_day_counts_sync(session: Session, deltas: DayDeltas) -> None:
    statement, rows = _day_count_upsert(session, deltas)
    if rows:
        session.execute(statement, rows)


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


def _group_ids_statement(names: Sequence[str]) -> Any:
    return select(Group.name, Group.id).where(Group.name.in_(names))


async def ensure_groups(
    session: AsyncSession, names: Sequence[str], now: datetime
) -> dict[str, int]:
    unique = sorted(set(names))
    await session.execute(
        dialect_insert(session)(Group)
        .values([{"name": name, "created_at": now} for name in unique])
        .on_conflict_do_nothing(index_elements=["name"])
    )
    rows = await session.execute(_group_ids_statement(unique))
    return {name: group_id for name, group_id in rows}  # noqa: C416 (a Result is no mapping)


async def insert_images(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> list[Image]:
    """Insert what is new; (group, url) already present is left as it is. Returns every
    image asked for, in the order asked; the new ones are added to the day counts."""
    if not rows:
        return []
    inserted = await session.execute(_insert_new(session), rows)
    await apply_day_counts(session, _deltas_of(inserted))
    keys = [(row["group_id"], row["url"]) for row in rows]
    found = await session.scalars(select(Image).where(tuple_(Image.group_id, Image.url).in_(keys)))
    by_key = {(image.group_id, image.url): image for image in found}
    return [by_key[key] for key in keys]


def ensure_groups_sync(session: Session, names: Sequence[str], now: datetime) -> dict[str, int]:
    unique = sorted(set(names))
    session.execute(
        dialect_insert(session)(Group)
        .values([{"name": name, "created_at": now} for name in unique])
        .on_conflict_do_nothing(index_elements=["name"])
    )
    rows = session.execute(_group_ids_statement(unique))
    return {name: group_id for name, group_id in rows}  # noqa: C416 (a Result is no mapping)


def insert_images_sync(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    if rows:
        inserted = session.execute(_insert_new(session), rows)
        apply_day_counts_sync(session, _deltas_of(inserted))


def _insert_new(session: AsyncSession | Session) -> Any:
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
