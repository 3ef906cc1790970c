"""Reconstructing tracked users' history: each repository's stargazers and forks read from
GitHub's lists, oldest first, page by page, each page stored in a transaction of its own
with where the read goes on, so a read of hundreds of pages survives rate limits and
restarts, and a repository read once is not read again (`history.py` has the counting).
A list GitHub's REST cap stops is read on from its newest end through GraphQL (with a
token), at most `newest_pages` pages.

It runs behind the daily scan and never in its way: it does not start while any user's
scan for the day is due and stops as soon as one is, and it leaves a quarter of GitHub's
window of quota for the scans. A rate limit ends the run with what was read kept; beat's
next look goes on from there.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

from imagehub.core.config import Settings
from imagehub.core.db import AsyncDatabase, run_async, utcnow
from imagehub.repostats import service
from imagehub.repostats.github import PAGE_SIZE, GitHub, GitHubError, RateLimited

log = logging.getLogger(__name__)

# The share of GitHub's window the backfill leaves for the daily scans.
QUOTA_KEPT_FOR_SCANS = 0.25

Progress = Callable[[int, int], None]


@dataclass
class BackfillReport:
    reads: int = 0  # stars or forks of a repository, to read
    finished: int = 0
    pages: int = 0
    requests: int = 0
    failed: list[str] = field(default_factory=list)
    # Why the run ended with reads left: "rate limit", "quota", "daily scan due" or "time".
    stopped: str | None = None
    rate_limited_until: datetime | None = None


def run_backfill(
    settings: Settings,
    *,
    user_ids: Sequence[int] | None = None,
    behind_scan: bool = True,
    seconds: float | None = None,
    on_progress: Progress | None = None,
) -> BackfillReport:
    """Read what is left of the history of these users' repositories (or everyone's):
    `behind_scan`, only while no daily scan is due; `seconds`, for at most that long."""
    due = service.due_before(utcnow(), settings.github_scan_at) if behind_scan else None

    async def work(database: AsyncDatabase) -> BackfillReport:
        async with GitHub(settings) as github:
            return await backfill(
                database,
                github,
                user_ids=user_ids,
                due=due,
                seconds=seconds,
                on_progress=on_progress,
                reads_at_once=settings.github_concurrency,
                newest_pages=settings.github_history_newest_pages,
            )

    return run_async(settings.effective_database_url, work)


async def backfill(
    database: AsyncDatabase,
    github: GitHub,
    *,
    user_ids: Sequence[int] | None = None,
    due: date | None = None,
    seconds: float | None = None,
    on_progress: Progress | None = None,
    reads_at_once: int = 4,
    newest_pages: int = 400,
) -> BackfillReport:
    report = BackfillReport()
    newest_pages = newest_pages if github.has_token else 0
    deadline = None if seconds is None else time.monotonic() + seconds

    async def scan_due() -> bool:
        if due is None:
            return False
        async with database.transaction() as session:
            return bool(await service.due_users(session, due, None))

    if await scan_due():
        report.stopped = "daily scan due"
        return report
    async with database.transaction() as session:
        await service.ask_for_history(session, user_ids)
        reads = await service.reads_to_do(session, user_ids)
    report.reads = len(reads)
    # Pages, as the counts of the last scan tell (a read may end sooner: after tracking).
    expected = sum(max(1, math.ceil(read.size / PAGE_SIZE)) for read in reads)
    gate = asyncio.Semaphore(reads_at_once)

    def why_stop() -> str | None:
        if report.stopped is None and deadline is not None and time.monotonic() > deadline:
            report.stopped = "time"
        if report.stopped is None and github.usage.below(QUOTA_KEPT_FOR_SCANS):
            report.stopped = "quota"
        return report.stopped

    async def read_next_oldest(read: service.PendingRead, url: str) -> bool:
        """The read's next pages from its oldest end, as many at once as the list has
        left by its last count (up to `reads_at_once`), each stored in order: whether the
        read is over (its oldest end, if capped). A page that failed ends the batch there,
        with the pages before it stored."""
        left = math.ceil(read.size / PAGE_SIZE) - read.counted // PAGE_SIZE
        # Within the quota the scans' share leaves, as GitHub last told it (one page, to
        # learn it, before it has), shared with the other reads going on.
        spare = github.usage.spare(QUOTA_KEPT_FOR_SCANS)
        at_once = min(reads_at_once, left, 1 if spare is None else spare // reads_at_once)
        urls = [url, *GitHub.pages_after(url, max(0, at_once - 1))]
        pages = await asyncio.gather(
            *(github.history_page(u, read.metric) for u in urls), return_exceptions=True
        )
        for page in pages:
            if isinstance(page, BaseException):
                raise page
            async with database.transaction() as session:
                over = await service.save_history_page(
                    session, read, page, newest_pages=newest_pages
                )
            report.pages += 1
            if over or read.next_url is None:
                return over
        return False

    async def read_next(read: service.PendingRead) -> bool | None:
        """The read's next page(s), stored: whether the read is over (None: there was
        nothing to read, and it is over)."""
        # No stargazers (forks) at the last scan, which came after `through`: nobody
        # today starred before then either (a star taken back and given again is dated
        # anew). Most repositories have none: their reads cost no request.
        nothing = read.next_url is not None and read.counted == 0 and read.size == 0
        if read.next_url is not None and not nothing:
            return await read_next_oldest(read, read.next_url)
        if nothing or newest_pages <= read.newest_pages:
            async with database.transaction() as session:
                await service.finish_read(session, read)
            return None
        newest = await github.newest_history_page(read.full_name, read.metric, read.newest_cursor)
        async with database.transaction() as session:
            over = await service.save_newest_page(session, read, newest, newest_pages=newest_pages)
        report.pages += 1
        return over

    async def read_list(listed: service.PendingRead) -> None:
        async with gate:
            if why_stop() is not None:
                return
            async with database.transaction() as session:
                held = await service.claim_read(session, listed)
            if held is None:
                return  # another run is reading it
            over = False
            try:
                over = await read_until_over(held)
            finally:
                if not over:  # a finished read was let go with its last page
                    async with database.transaction() as session:
                        await service.release_read(session, held)

    async def read_until_over(read: service.PendingRead) -> bool:
        """The read's pages until it is over (True) or the run stops or it fails (False)."""
        while why_stop() is None:
            if await scan_due():
                report.stopped = "daily scan due"
                return False
            try:
                over = await read_next(read)
            except RateLimited as limited:
                report.stopped, report.rate_limited_until = "rate limit", limited.until
                return False
            except GitHubError as error:
                log.warning("history of %s (%s) failed: %s", read.full_name, read.metric, error)
                report.failed.append(f"{read.full_name} ({read.metric}): {error}")
                return False  # left for the next run
            if on_progress:
                on_progress(report.pages, max(expected, report.pages))
            if over is None or over:
                report.finished += 1
                return True
        return False

    await asyncio.gather(*(read_list(read) for read in reads))
    report.requests = github.usage.requests
    if report.stopped:
        log.info("history backfill stopped (%s): %d of %d read(s) finished", report.stopped,
                 report.finished, report.reads)  # fmt: skip
    return report
