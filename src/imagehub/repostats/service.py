"""The rules of repo stats: tracking GitHub users, scanning them, serving their numbers."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from imagehub.db import async_session_scope, utcnow
from imagehub.errors import Conflict, InvalidInput, NotFound, ServiceUnavailable
from imagehub.repostats import repository
from imagehub.repostats.github import Account, GitHub, GitHubError, RateLimited
from imagehub.repostats.models import GithubUser, Repo, Stat

log = logging.getLogger(__name__)

SCAN_USERS = "repostats.scan_users"
DEFAULT_DAYS = 30
# A scanner that died holding a user lets go of it after this long.
CLAIM_SECONDS = 15 * 60
# A user whose scan failed waits this long before the daily scan tries them again.
FAILED_RETRY_SECONDS = 60 * 60


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
        raise GitHubUnavailable(str(error)) from error
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
    start = date_from or end - timedelta(days=DEFAULT_DAYS - 1)
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


# --- Scanning ---------------------------------------------------------------------------


@dataclass
class ScanReport:
    scanned: int = 0
    repositories: int = 0
    failed: list[str] = field(default_factory=list)
    skipped: int = 0  # claimed by another scanner
    deferred: int = 0  # left for beat after the rate limit
    rate_limited_until: datetime | None = None
    requests: int = 0
    not_modified: int = 0


async def scan(
    sessions: async_sessionmaker[AsyncSession],
    github: GitHub,
    *,
    due: date | None,
    user_ids: Sequence[int] | None = None,
    on_progress: Callable[[int, int], None] | None = None,
    users_in_flight: int = 16,
) -> ScanReport:
    """Scan the tracked users behind `due` (None: all of them, or those in `user_ids`).

    Each user is read whole, then written in one transaction, so a scan that dies half-way
    leaves complete rows only, and the next run takes the users not yet done. One failing
    user is logged and tried again an hour later; a spent rate limit stops the run, and the
    users it left wait for the reset, when beat's next look takes them (stored in the
    database rather than as a broker message with an ETA: a delayed message outliving the
    broker's visibility timeout is delivered again, and beat looks every few minutes anyway).
    """
    async with sessions() as session:
        users = await repository.due_users(session, due, user_ids, utcnow())
    report = ScanReport()
    gate = asyncio.Semaphore(users_in_flight)
    deferred: list[int] = []
    done = 0

    async def scan_one(user: GithubUser) -> None:
        nonlocal done
        async with gate:
            if report.rate_limited_until is not None:
                report.deferred += 1
                deferred.append(user.id)
                return
            outcome = await _scan_user(sessions, github, user)
        if isinstance(outcome, RateLimited):
            report.rate_limited_until = max(
                outcome.until, report.rate_limited_until or outcome.until
            )
            report.deferred += 1
        elif isinstance(outcome, str):
            report.failed.append(f"{user.login}: {outcome}")
        elif outcome is None:
            report.skipped += 1
        else:
            report.scanned += 1
            report.repositories += outcome
        done += 1
        if on_progress:
            on_progress(done, len(users))

    await asyncio.gather(*(scan_one(user) for user in users))
    report.requests, report.not_modified = github.usage.requests, github.usage.not_modified
    if report.rate_limited_until:
        async with async_session_scope(sessions) as session:
            await repository.defer(session, deferred, report.rate_limited_until)
        log.warning(
            "GitHub rate limit spent; %d user(s) left for after %s",
            report.deferred,
            report.rate_limited_until.isoformat(),
        )
    return report


async def _scan_user(
    sessions: async_sessionmaker[AsyncSession], github: GitHub, user: GithubUser
) -> int | str | RateLimited | None:
    """The number of repositories saved; an error message; RateLimited; None if another
    scanner holds this user."""
    now = utcnow()
    async with async_session_scope(sessions) as session:
        if not await repository.claim(
            session, user.id, now, now - timedelta(seconds=CLAIM_SECONDS)
        ):
            return None
        known = await repository.known_repos(session, user.id) if github.mode == "rest" else {}
    account = Account(user.id, user.login, user.name, user.node_id)
    try:
        current, repos = await github.repositories(account, known)
        # The day the numbers were read on, not the day the run started.
        async with async_session_scope(sessions) as session:
            await repository.save_scan(session, current, repos, utc_today())
        return len(repos)
    except RateLimited as limited:
        await _release(sessions, user.id, str(limited), retry_at=limited.until)
        return limited
    except GitHubError as error:
        log.warning("scanning GitHub user %s failed: %s", user.login, error)
        retry_at = utcnow() + timedelta(seconds=FAILED_RETRY_SECONDS)
        await _release(sessions, user.id, str(error)[:500], retry_at=retry_at)
        return str(error)
    except BaseException:
        await _release(sessions, user.id, "the scan was interrupted", retry_at=None)
        raise


async def _release(
    sessions: async_sessionmaker[AsyncSession],
    user_id: int,
    error: str | None,
    *,
    retry_at: datetime | None,
) -> None:
    async with async_session_scope(sessions) as session:
        await repository.release(session, user_id, error, retry_at)
