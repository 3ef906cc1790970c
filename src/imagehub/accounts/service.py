"""The rules of accounts: registration, login with throttling, roles."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from imagehub.accounts import repository
from imagehub.accounts.models import Role, User
from imagehub.accounts.passwords import hash_password, needs_rehash, verify_password
from imagehub.core.config import Settings
from imagehub.core.db import utcnow
from imagehub.core.errors import Conflict, Forbidden, NotFound, TooManyRequests, Unauthorized
from imagehub.core.storage import Storage
from imagehub.processing import service as processing


class InvalidCredentials(Unauthorized):
    name = "Invalid credentials"
    keep_changes = True  # the counted attempt must survive the failed request

    def __init__(self) -> None:
        super().__init__("Incorrect email or password")


class WrongPassword(Forbidden):
    name = "Wrong password"
    keep_changes = True  # the counted attempt must survive the failed request

    def __init__(self) -> None:
        super().__init__("The password is not this account's")


class EmailTaken(Conflict):
    name = "Email already registered"

    def __init__(self) -> None:
        super().__init__("An account with this email already exists")


def normalize_email(email: str) -> str:
    return email.strip().lower()


async def register(
    session: AsyncSession,
    *,
    email: str,
    password: str,
    first_name: str | None = None,
    last_name: str | None = None,
    role: Role = Role.USER,
) -> User:
    email = normalize_email(email)
    if await repository.get_user_by_email(session, email) is not None:
        raise EmailTaken()
    user = User(
        email=email,
        password=await hash_password(password),
        first_name=first_name,
        last_name=last_name,
        role=role,
    )
    try:
        async with session.begin_nested():  # a concurrent twin registration loses cleanly
            await repository.add_user(session, user)
    except IntegrityError as error:
        raise EmailTaken() from error
    return user


async def authenticate(
    session: AsyncSession, settings: Settings, *, email: str, password: str, client_ip: str
) -> User:
    """Check a password, throttled per (email, client IP).

    Every attempt is counted before the password is checked, so parallel guesses cannot
    slip past the limit; a success clears the count. Unknown email and wrong password
    answer alike, in about the same time.
    """
    email = normalize_email(email)
    await _count_attempt(session, settings, email, client_ip)
    user = await repository.get_user_by_email(session, email)
    if not await verify_password(user.password if user else None, password) or user is None:
        raise InvalidCredentials()
    await repository.clear_login_attempts(session, email, client_ip)
    if needs_rehash(user.password):
        user.password = await hash_password(password)
    return user


async def get_active_user(session: AsyncSession, user_id: uuid.UUID) -> User:
    """The user behind a token; a deleted user's token stops working at once."""
    user = await repository.get_user(session, user_id)
    if user is None:
        raise Unauthorized("The account of this token no longer exists")
    return user


async def emails_of(session: AsyncSession, user_ids: list[uuid.UUID]) -> dict[uuid.UUID, str]:
    """The emails of these accounts (one that was deleted is simply absent)."""
    return await repository.emails_of(session, sorted(set(user_ids)))


async def find_by_email(session: AsyncSession, email: str) -> User:
    user = await repository.get_user_by_email(session, normalize_email(email))
    if user is None:
        raise NotFound(f"No user with email {email}", name="User not found")
    return user


async def change_role(session: AsyncSession, email: str, role: Role) -> User:
    user = await find_by_email(session, email)
    await repository.set_role(session, user, role)
    return user


async def _count_attempt(
    session: AsyncSession, settings: Settings, email: str, client_ip: str
) -> None:
    """Count a password attempt; refuse it when this (email, client IP) failed too often."""
    now = utcnow()
    window = timedelta(seconds=settings.login_failure_window_seconds)
    attempts, window_started = await repository.count_login_attempt(
        session, email, client_ip, now, now - window
    )
    if attempts > settings.login_max_failures:
        retry_after = int((window_started + window - now).total_seconds()) + 1
        raise TooManyRequests(
            f"Too many failed logins for this account from your address; "
            f"try again in {retry_after} s",
            retry_after=retry_after,
        )


async def delete_own_account(
    session: AsyncSession,
    settings: Settings,
    storage: Storage,
    user: User,
    *,
    password: str,
    client_ip: str,
) -> None:
    """A user deleting their account proves it with the password (a token alone, stolen or
    left in a browser, must not erase everything), throttled as a login is."""
    await _count_attempt(session, settings, user.email, client_ip)
    if not await verify_password(user.password, password):
        raise WrongPassword()
    await _delete_account(session, storage, user)


async def delete(session: AsyncSession, storage: Storage, email: str) -> int:
    """An admin deleting an account (the CLI); how many tasks it had."""
    return await _delete_account(session, storage, await find_by_email(session, email))


async def _delete_account(session: AsyncSession, storage: Storage, user: User) -> int:
    """The account and everything it owns: its tasks with every stored file, and the
    moderation images of its uploads. Status changes it made as a moderator stay, with its
    email (kept in each record)."""
    tasks = await processing.delete_tasks_of(session, storage, user.id)
    await repository.forget_login_attempts(session, user.email)
    await repository.delete_user(session, user)
    return tasks


async def prune_login_attempts(session: AsyncSession, settings: Settings) -> int:
    window = timedelta(seconds=settings.login_failure_window_seconds)
    return await repository.prune_login_attempts(session, utcnow() - window)
