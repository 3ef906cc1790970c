"""Tables of the processing domain.

`tasks` is one upload; `task_images` one uploaded image with its progress; `image_task` is
one row per stored file (`name_suffix.ext`), in the shape the contract fixes for it.
"""

import uuid
from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import (
    BigInteger,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.orm import Mapped, mapped_column

from imagehub.core.db import Base, TextEnum, UTCDateTime, utcnow
from imagehub.processing.uploads import key_stem


class TaskStatus(StrEnum):
    PENDING = "pending"
    PROCESSING = "processing"
    DONE = "done"
    FAILED = "failed"
    PARTIAL = "partial"

    @property
    def finished(self) -> bool:
        return self in (TaskStatus.DONE, TaskStatus.FAILED, TaskStatus.PARTIAL)


class ImageState(StrEnum):
    PENDING = "pending"
    DONE = "done"
    FAILED = "failed"


class Variant(StrEnum):
    ORIGINAL = "original"
    ROTATED = "rotated"
    GRAY = "gray"
    SCALED = "scaled"


class Task(Base):
    __tablename__ = "tasks"

    id: Mapped[uuid.UUID] = mapped_column(Uuid(), primary_key=True, default=uuid.uuid4)
    owner_id: Mapped[uuid.UUID] = mapped_column(
        Uuid(), ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    status: Mapped[TaskStatus] = mapped_column(TextEnum(TaskStatus), default=TaskStatus.PENDING)
    group_name: Mapped[str | None] = mapped_column(String(200))
    total: Mapped[int] = mapped_column(Integer)
    done: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # Moves on every bit of progress.
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # Indexed for retention, which deletes the tasks that finished longest ago.
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)


class TaskImage(Base):
    __tablename__ = "task_images"
    __table_args__ = (
        UniqueConstraint("task_id", "position"),
        Index("ix_task_images_owner_created", "owner_id", "created_at", "id"),
        # The stall sweep: pending images by when their job was sent, and how far the
        # queue has got (the latest sending among finished images).
        Index("ix_task_images_state_queued", "state", "queued_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid(), primary_key=True, default=uuid.uuid4)
    task_id: Mapped[uuid.UUID] = mapped_column(
        Uuid(), ForeignKey("tasks.id", ondelete="CASCADE"), index=True
    )
    # Denormalised from the task so a user's history is one index range scan.
    owner_id: Mapped[uuid.UUID] = mapped_column(Uuid(), ForeignKey("users.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    # The file's name as shown and zipped: unique within the task, e.g. "cat-2.jpg".
    name: Mapped[str] = mapped_column(String(255))
    stem: Mapped[str] = mapped_column(String(255))
    extension: Mapped[str] = mapped_column(String(8))
    image_format: Mapped[str] = mapped_column(String(8))  # JPEG or PNG, from the bytes
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    size_bytes: Mapped[int] = mapped_column(Integer)
    # What its copies take in storage (rotated, gray, scaled, thumbnail), once made: with
    # `size_bytes`, what the image counts against its owner's storage quota.
    variants_bytes: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    state: Mapped[ImageState] = mapped_column(TextEnum(ImageState), default=ImageState.PENDING)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # When the image's job was last sent: at upload, and again by the stall sweep.
    queued_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The stored thumbnail's file name (`name_thumbnail.jpg|webp`), once made: not one of
    # the four files (no `image_task` row, not in the zip).
    thumbnail: Mapped[str | None] = mapped_column(String(300))
    # The moderation queue's image made of this upload (no foreign key: another domain's
    # table), whose status decides who may still see the files.
    moderation_image_id: Mapped[int | None] = mapped_column(BigInteger)

    def file_name(self, variant: Variant) -> str:
        """The stored file's name: its storage key's last part, its link, its zip entry."""
        return f"{key_stem(self.stem)}_{variant.value}.{self.extension}"

    def thumbnail_name(self, extension: str) -> str:
        return f"{key_stem(self.stem)}_thumbnail.{extension}"


class ImageTask(Base):
    """One row per stored file of a task (the contract's `image_task` table)."""

    __tablename__ = "image_task"
    __table_args__ = (UniqueConstraint("task_id", "img_link"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid(), primary_key=True, default=uuid.uuid4)
    task_id: Mapped[uuid.UUID] = mapped_column(
        Uuid(), ForeignKey("tasks.id", ondelete="CASCADE"), index=True
    )
    img_link: Mapped[str] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class UploadKey(Base):
    """An upload's `Idempotency-Key`: the same user and key within a day answer with the
    task that key made (`fingerprint`: a digest of the request's files and group)."""

    __tablename__ = "upload_keys"

    owner_id: Mapped[uuid.UUID] = mapped_column(
        Uuid(), ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64))
    # Null only inside the transaction that claims the key (set before it commits).
    task_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid(), ForeignKey("tasks.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class UploadDay(Base):
    """Images a user uploaded on a UTC day, for the daily quota: counted at upload, so
    deleting an upload does not give the day's allowance back."""

    __tablename__ = "upload_days"

    owner_id: Mapped[uuid.UUID] = mapped_column(
        Uuid(), ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    images: Mapped[int] = mapped_column(Integer, default=0)
