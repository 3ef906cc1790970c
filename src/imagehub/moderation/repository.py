"""Every query of the moderation domain. Filtering, grouping, counting, sorting and paging
all happen in the database, in a fixed number of statements per request."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Row, exists, func, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from imagehub.db import dialect_insert
from imagehub.moderation.models import Group, Image, Status, StatusChange

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


ImageRow = Row[tuple[int, int, str, str, datetime, datetime]]


async def images_of(
    session: AsyncSession, group_ids: Sequence[int], status: Status | None, order: str
) -> list[ImageRow]:
    """The images of these groups, each group's newest first by `order` (a column name).
    Plain rows, not ORM objects: a page can hold thousands, and rows are several times
    cheaper to build."""
    if not group_ids:
        return []
    column: ColumnElement[Any] = getattr(Image, order)
    query = select(
        Image.id, Image.group_id, Image.url, Image.status, Image.created_at, Image.changed_at
    ).where(Image.group_id.in_(group_ids))
    if status is not None:
        query = query.where(Image.status == status)
    query = query.order_by(Image.group_id.desc(), column.desc(), Image.id.desc())
    return list((await session.execute(query)).all())  # type: ignore[arg-type]


# --- One image ----------------------------------------------------------------------------


async def get_image(session: AsyncSession, image_id: int) -> Image | None:
    return await session.get(Image, image_id)


async def lock_image(session: AsyncSession, image_id: int) -> Image | None:
    """The image, locked until the transaction ends (PostgreSQL; SQLite's write
    transactions are serial already), so concurrent changes apply one after the other."""
    result = await session.scalars(
        select(Image)
        .where(Image.id == image_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return result.one_or_none()


async def set_status(session: AsyncSession, image: Image, status: Status, now: datetime) -> None:
    # changed_at only moves forward, even across API hosts whose clocks differ a little.
    await session.execute(
        update(Image)
        .where(Image.id == image.id)
        .values(
            status=status,
            changed_at=func.max(Image.changed_at, now)
            if session.get_bind().dialect.name == "sqlite"
            else func.greatest(Image.changed_at, now),
        )
    )


async def add_change(session: AsyncSession, change: StatusChange) -> None:
    session.add(change)
    await session.flush()


async def changes_of(session: AsyncSession, image_id: int) -> list[StatusChange]:
    rows = await session.scalars(
        select(StatusChange).where(StatusChange.image_id == image_id).order_by(StatusChange.id)
    )
    return list(rows)


# --- Statistics ---------------------------------------------------------------------------


async def count_by_status(session: AsyncSession, column: str, since: datetime) -> dict[str, int]:
    moment: ColumnElement[Any] = getattr(Image, column)
    rows = await session.execute(
        select(Image.status, func.count()).where(moment >= since).group_by(Image.status)
    )
    return {str(status): int(count) for status, count in rows}


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
    image asked for, in the order asked."""
    await session.execute(
        dialect_insert(session)(Image)
        .values(list(rows))
        .on_conflict_do_nothing(index_elements=["group_id", "url"])
    )
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
        session.execute(
            dialect_insert(session)(Image)
            .values(list(rows))
            .on_conflict_do_nothing(index_elements=["group_id", "url"])
        )
