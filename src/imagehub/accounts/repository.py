"""Every query of the accounts domain."""

import uuid
from datetime import datetime

from sqlalchemy import case, delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from imagehub.accounts.models import LoginAttempt, Role, User
from imagehub.core.db import dialect_insert


async def get_user(session: AsyncSession, user_id: uuid.UUID) -> User | None:
    return await session.get(User, user_id)


async def emails_of(session: AsyncSession, user_ids: list[uuid.UUID]) -> dict[uuid.UUID, str]:
    if not user_ids:
        return {}
    rows = await session.execute(select(User.id, User.email).where(User.id.in_(user_ids)))
    return {user_id: email for user_id, email in rows}  # noqa: C416 (a Result is no mapping)


async def get_user_by_email(session: AsyncSession, email: str) -> User | None:
    result = await session.scalars(select(User).where(User.email == email))
    return result.one_or_none()


async def add_user(session: AsyncSession, user: User) -> User:
    session.add(user)
    await session.flush()
    return user


async def set_role(session: AsyncSession, user: User, role: Role) -> None:
    user.role = role
    await session.flush()


async def forget_login_attempts(session: AsyncSession, email: str) -> None:
    await session.execute(delete(LoginAttempt).where(LoginAttempt.email == email))


async def delete_user(session: AsyncSession, user: User) -> None:
    await session.delete(user)
    await session.flush()


async def count_login_attempt(
    session: AsyncSession, email: str, client_ip: str, now: datetime, window_start: datetime
) -> tuple[int, datetime]:
    """Atomically count one more attempt for (email, IP), starting a new window when the
    current one has passed. Returns the attempts in the window and when it started."""
    expired = LoginAttempt.window_started_at < window_start
    statement = (
        dialect_insert(session)(LoginAttempt)
        .values(email=email, client_ip=client_ip, attempts=1, window_started_at=now)
        .on_conflict_do_update(
            index_elements=[LoginAttempt.email, LoginAttempt.client_ip],
            set_={
                "attempts": case((expired, 1), else_=LoginAttempt.attempts + 1),
                "window_started_at": case((expired, now), else_=LoginAttempt.window_started_at),
            },
        )
        .returning(LoginAttempt.attempts, LoginAttempt.window_started_at)
    )
    attempts, started = (await session.execute(statement)).one()
    return int(attempts), started


async def clear_login_attempts(session: AsyncSession, email: str, client_ip: str) -> None:
    await session.execute(
        delete(LoginAttempt).where(LoginAttempt.email == email, LoginAttempt.client_ip == client_ip)
    )


async def prune_login_attempts(session: AsyncSession, older_than: datetime) -> int:
    result = await session.execute(
        delete(LoginAttempt).where(LoginAttempt.window_started_at < older_than)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]
