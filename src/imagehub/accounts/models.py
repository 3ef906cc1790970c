import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import CheckConstraint, Integer, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from imagehub.core.db import Base, TextEnum, UTCDateTime, utcnow


class Role(StrEnum):
    USER = "user"
    MODERATOR = "moderator"
    ADMIN = "admin"

    def includes(self, other: "Role") -> bool:
        """An admin can do what a moderator can, who can do what a user can."""
        order = list(Role)
        return order.index(self) >= order.index(other)


class User(Base):
    __tablename__ = "users"
    __table_args__ = (CheckConstraint("role IN ('user', 'moderator', 'admin')", name="role"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid(), primary_key=True, default=uuid.uuid4)
    # Stored lower-cased, so the unique index compares addresses case-insensitively.
    email: Mapped[str] = mapped_column(String(320), unique=True)
    password: Mapped[str] = mapped_column(String(255))  # the argon2id hash, never the password
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    first_name: Mapped[str | None] = mapped_column(String(100))
    last_name: Mapped[str | None] = mapped_column(String(100))
    role: Mapped[Role] = mapped_column(TextEnum(Role), default=Role.USER)


class LoginAttempt(Base):
    """Unsuccessful login attempts per (email, client IP) inside the current window.

    Kept in the database so that throttling holds across API processes and machines.
    """

    __tablename__ = "login_attempts"

    email: Mapped[str] = mapped_column(String(320), primary_key=True)
    client_ip: Mapped[str] = mapped_column(String(64), primary_key=True)
    attempts: Mapped[int] = mapped_column(Integer)
    window_started_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
