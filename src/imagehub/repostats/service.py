"""The rules of repo stats: tracking GitHub users, scanning them, serving their numbers."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from imagehub.core.db import utcnow
from imagehub.core.errors import Conflict, InvalidInput, NotFound, ServiceUnavailable
from imagehub.core.fields import days_before
from imagehub.repostats import repository
from imagehub.repostats.github import GitHub, GitHubError, Page, Stored
from imagehub.repostats.models import GithubUser, Repo, Stat

log = logging.getLogger(__name__)

SCAN_USERS = "repostats.scan_users"
DEFAULT_DAYS = 30
# A scanner that died holding a user lets go of it after this long.
CLAIM_SECONDS = 15 * 60


class GithubUserNotFound(NotFound):
    name = "GitHub user not found"


class GitHubUnavailable(ServiceUnavailable):
    name = "GitHub unavailable"


def utc_today() -> date:
    return datetime.now(UTC).date()


def due_before(now: datetime, scan_at: time) -> date:
    """The day a user's last scan must have reached to be up to date: today once today's
    scan time has passed, yesterday before it."""
    today = now.astimezone(UTC).date()
    return today if now.astimezone(UTC).time() >= scan_at else today - timedelta(days=1)


# --- Tracking ---------------------------------------------------------------------------


async def track(session: AsyncSession, github: GitHub, login: str) -> GithubUser:
    try:
        account = await github.account(login)
    except GitHubError as error:  # down, or our quota spent: say so, not a 500
        log.warning("looking up GitHub user %r failed: %s", login, error)
        raise GitHubUnavailable(
            "GitHub did not answer, or our quota for it is spent; try again later"
        ) from error
    if account is None:
        raise GithubUserNotFound(f"GitHub has no user {login!r}")
    user = await repository.add_user(session, account, utcnow())
    if user is None:
        raise Conflict(f"{account.login} (id {account.id}) is tracked already")
    return user


async def get_user(session: AsyncSession, user_id: int) -> GithubUser:
    user = await repository.get_user(session, user_id)
    if user is None:
        raise GithubUserNotFound(f"No tracked GitHub user with id {user_id}")
    return user


async def list_users(session: AsyncSession) -> list[GithubUser]:
    return await repository.list_users(session)


async def untrack(session: AsyncSession, user_id: int) -> None:
    if not await repository.delete_user(session, user_id):
        raise GithubUserNotFound(f"No tracked GitHub user with id {user_id}")


def date_range(
    date_from: date | None, date_to: date | None, max_days: int, today: date
) -> tuple[date, date]:
    """Inclusive; by default the last 30 days up to today."""
    end = date_to or today
    try:
        start = date_from or days_before(end, DEFAULT_DAYS - 1)
    except ValueError as error:
        raise InvalidInput(
            f"date_to: {error}; send date_from too",
            name="Invalid date range",
            extra={"fields": ["date_to"]},
        ) from error
    if start > end:
        raise InvalidInput("date_from is after date_to", name="Invalid date range")
    if (end - start).days + 1 > max_days:
        raise InvalidInput(
            f"At most {max_days} days per request; asked for {(end - start).days + 1}",
            name="Invalid date range",
        )
    return start, end


async def repos(session: AsyncSession, user_id: int) -> list[Repo]:
    await get_user(session, user_id)
    return await repository.repos_of(session, user_id)


async def stats(
    session: AsyncSession, user_id: int, start: date, end: date
) -> tuple[GithubUser, list[Stat]]:
    user = await get_user(session, user_id)
    return user, await repository.stats_of(session, user_id, start, end)


# --- Scanning: the steps `scan.py` sequences, each in a transaction of its own ------------


async def due_users(
    session: AsyncSession, due: date | None, user_ids: Sequence[int] | None
) -> list[GithubUser]:
    """The tracked users behind `due` and not waiting for a retry time (None: all of them,
    whatever their last scan), or only those in `user_ids`."""
    return await repository.due_users(session, due, user_ids, utcnow())


async def claim(session: AsyncSession, user_id: int, mode: str) -> Stored | None:
    """Take this scanner's lease on the user; None when another scanner holds a fresh one.
    A scan of today that was cut short goes on where it stopped; any other starts afresh.
    Returns what the scan needs of what is stored."""
    now = utcnow()
    if not await repository.claim(session, user_id, now, now - timedelta(seconds=CLAIM_SECONDS)):
        return None
    user = await repository.get_user(session, user_id)
    assert user is not None  # the lease was just taken on its row
    started = user.scan_started_at
    if started is None or started.astimezone(UTC).date() != now.astimezone(UTC).date():
        await repository.start_scan(session, user_id, now)
        await session.refresh(user)
    return await repository.stored_scan(session, user, rest=mode == "rest")


async def save_page(session: AsyncSession, user_id: int, page: Page) -> None:
    """One page of a user's scan, dated the day the numbers were read (not the day the run
    started); the last one completes the scan and releases the lease."""
    await repository.save_page(session, user_id, page, utc_today(), utcnow())


async def release(
    session: AsyncSession, user_id: int, error: str, *, retry_at: datetime | None
) -> None:
    """Let go of a user whose scan did not complete, noting why and when to try again."""
    await repository.release(session, user_id, error, retry_at)


async def defer(session: AsyncSession, user_ids: Sequence[int], until: datetime) -> None:
    """Users a spent rate limit kept from their scan wait for its reset."""
    await repository.defer(session, user_ids, until)
