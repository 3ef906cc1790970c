"""A scan of tracked GitHub users: who is due, then each user claimed, read from GitHub and
saved, each step in a transaction of its own. Beat's task and `imagehub github scan` both
run it through `run_scan`, on an event loop of its own.

Each page of a user's repositories is written in a transaction of its own as soon as it is
read (a row per repository, each complete), so a scan cut short by a rate limit goes on
from there in the next window: a user larger than one window of quota completes across
windows. One failing user is logged and tried again an hour later; a spent rate limit stops
the run, and the users it left wait for the reset, when beat's next look takes them (stored
in the database rather than as a broker message with an ETA: a delayed message outliving
the broker's visibility timeout is delivered again, and beat looks every few minutes anyway).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from contextlib import aclosing
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from imagehub.core.config import Settings
from imagehub.core.db import AsyncDatabase, run_async, utcnow
from imagehub.core.metrics import GITHUB_USERS
from imagehub.repostats import service
from imagehub.repostats.github import Account, GitHub, GitHubError, RateLimited, kind_of
from imagehub.repostats.models import GithubUser

log = logging.getLogger(__name__)

# A user whose scan failed waits this long before the daily scan tries them again.
FAILED_RETRY_SECONDS = 60 * 60

Progress = Callable[[int, int], None]


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


def run_scan(
    settings: Settings,
    *,
    due_now: bool,
    user_ids: Sequence[int] | None = None,
    on_progress: Progress | None = None,
) -> ScanReport:
    """Scan the users whose daily scan is due (`due_now`), or every tracked user (or those
    in `user_ids`) whatever their last scan."""
    due = service.due_before(utcnow(), settings.github_scan_at) if due_now else None

    async def work(database: AsyncDatabase) -> ScanReport:
        async with GitHub(settings) as github:
            return await scan(
                database,
                github,
                due=due,
                user_ids=user_ids,
                on_progress=on_progress,
                users_in_flight=settings.github_concurrency * 2,
            )

    return run_async(settings.effective_database_url, work)


async def scan(
    database: AsyncDatabase,
    github: GitHub,
    *,
    due: date | None,
    user_ids: Sequence[int] | None = None,
    on_progress: Progress | None = None,
    users_in_flight: int = 16,
) -> ScanReport:
    async with database.transaction() as session:
        users = await service.due_users(session, due, user_ids)
    report = ScanReport()
    gate = asyncio.Semaphore(users_in_flight)
    deferred: list[int] = []
    done = 0

    async def scan_one(user: GithubUser) -> None:
        nonlocal done
        async with gate:
            # Once the quota is spent, the users still waiting are left for the reset.
            left_for_later = report.rate_limited_until is not None
            outcome = None if left_for_later else await _scan_user(database, github, user)
        if left_for_later:
            deferred.append(user.id)
            report.deferred += 1
            counted = "deferred"
        elif isinstance(outcome, RateLimited):
            report.rate_limited_until = max(
                outcome.until, report.rate_limited_until or outcome.until
            )
            report.deferred += 1
            counted = "deferred"
        elif isinstance(outcome, str):
            report.failed.append(f"{user.login}: {outcome}")
            counted = "failed"
        elif outcome is None:
            report.skipped += 1
            counted = "skipped"
        else:
            report.scanned += 1
            report.repositories += outcome
            counted = "scanned"
        GITHUB_USERS.labels(counted).inc()
        done += 1
        if on_progress:
            on_progress(done, len(users))

    await asyncio.gather(*(scan_one(user) for user in users))
    report.requests, report.not_modified = github.usage.requests, github.usage.not_modified
    if report.rate_limited_until:
        async with database.transaction() as session:
            await service.defer(session, deferred, report.rate_limited_until)
        log.warning(
            "GitHub rate limit spent; %d user(s) left for after %s",
            report.deferred,
            report.rate_limited_until.isoformat(),
        )
    return report


async def _scan_user(
    database: AsyncDatabase, github: GitHub, user: GithubUser
) -> int | str | RateLimited | None:
    """The number of repositories saved; an error message; RateLimited; None if another
    scanner holds this user."""
    async with database.transaction() as session:
        stored = await service.claim(session, user.id, github.mode)
    if stored is None:
        return None
    account = Account(user.id, user.login, user.name, user.node_id, kind_of(user.kind))
    saved = 0
    try:
        async with aclosing(github.pages(account, stored)) as pages:
            async for page in pages:
                async with database.transaction() as session:
                    await service.save_page(session, user.id, page)
                saved += len(page.repos)
        return saved
    except RateLimited as limited:
        async with database.transaction() as session:
            await service.release(session, user.id, str(limited), retry_at=limited.until)
        return limited
    except GitHubError as error:
        log.warning("scanning GitHub user %s failed: %s", user.login, error)
        retry_at = utcnow() + timedelta(seconds=FAILED_RETRY_SECONDS)
        async with database.transaction() as session:
            await service.release(session, user.id, str(error)[:500], retry_at=retry_at)
        return str(error)
    except BaseException:
        async with database.transaction() as session:
            await service.release(session, user.id, "the scan was interrupted", retry_at=None)
        raise
