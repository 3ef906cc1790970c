"""Tables of the moderation domain: groups, their images, and every status change."""

import uuid
from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.orm import Mapped, mapped_column

from imagehub.core.db import Base, BigId, TextEnum, UTCDateTime, utcnow


class Status(StrEnum):
    NEW = "new"
    REVIEW = "review"
    ACCEPTED = "accepted"
    DELETED = "deleted"


STATUS_CHECK = "status IN ('new', 'review', 'accepted', 'deleted')"


class Group(Base):
    __tablename__ = "groups"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Image(Base):
    __tablename__ = "images"
    __table_args__ = (
        UniqueConstraint("group_id", "url"),
        CheckConstraint(STATUS_CHECK, name="status"),
        # A group's images by either order, with or without a status filter.
        Index("ix_images_group_changed", "group_id", "changed_at", "id"),
        Index("ix_images_group_created", "group_id", "created_at", "id"),
        Index("ix_images_group_status_changed", "group_id", "status", "changed_at"),
        # Statistics: a range of days, counted by status.
        Index("ix_images_changed_status", "changed_at", "status"),
        Index("ix_images_created_status", "created_at", "status"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id", ondelete="CASCADE"))
    # An http(s) URL, or for an uploaded original `storage:<key>`, turned into a browser URL
    # (presigned or signed) when it is read.
    url: Mapped[str] = mapped_column(String(2048))
    # Uploads only: the worker's small rendition, `storage:<key>` like `url`.
    thumbnail_url: Mapped[str | None] = mapped_column(String(2048))
    # Uploads only, for the moderator to judge by: the file's name, who uploaded it (an
    # account id: no foreign key into another domain's table), its size.
    name: Mapped[str | None] = mapped_column(String(255))
    uploaded_by: Mapped[uuid.UUID | None] = mapped_column(Uuid())
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    size_bytes: Mapped[int | None] = mapped_column(BigInteger)
    status: Mapped[Status] = mapped_column(TextEnum(Status), default=Status.NEW)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class DayCount(Base):
    """How many images of each status have their created_at / changed_at on each UTC day.

    Kept by the service in the same transaction as every insert and status change, so the
    statistics read ~N rows plus one partial day instead of scanning N days of images.
    `imagehub moderation recount` rebuilds it from the images (after a bulk load by hand).
    """

    __tablename__ = "image_day_counts"

    kind: Mapped[str] = mapped_column(String(8), primary_key=True)  # created | changed
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    status: Mapped[Status] = mapped_column(TextEnum(Status), primary_key=True)
    count: Mapped[int] = mapped_column(BigInteger, default=0)


class StatusChange(Base):
    __tablename__ = "image_status_changes"
    __table_args__ = (Index("ix_image_status_changes_image", "image_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    image_id: Mapped[int] = mapped_column(ForeignKey("images.id", ondelete="CASCADE"))
    from_status: Mapped[Status] = mapped_column(TextEnum(Status))
    to_status: Mapped[Status] = mapped_column(TextEnum(Status))
    # Who: kept by id and by email, so the record outlives the account.
    changed_by: Mapped[uuid.UUID | None] = mapped_column(
        Uuid(), ForeignKey("users.id", ondelete="SET NULL")
    )
    changed_by_email: Mapped[str | None] = mapped_column(String(320))
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
