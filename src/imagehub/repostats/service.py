"""The rules of repo stats: tracking GitHub users, scanning them, serving their numbers."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal

from sqlalchemy.ext.asyncio import AsyncSession

from imagehub.core.db import utcnow
from imagehub.core.errors import Conflict, InvalidInput, NotFound, ServiceUnavailable
from imagehub.core.fields import days_before
from imagehub.repostats import history, repository
from imagehub.repostats.github import (
    GitHub,
    GitHubError,
    HistoryPage,
    Metric,
    NewestPage,
    Page,
    Stored,
)
from imagehub.repostats.models import GithubUser, HistoryRead, Repo, Stat

log = logging.getLogger(__name__)

SCAN_USERS = "repostats.scan_users"
BACKFILL = "repostats.backfill"
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


async def tracked_id(session: AsyncSession, login: str) -> int | None:
    return await repository.user_id_by_login(session, login)


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


# --- History before tracking: the steps `backfill.py` sequences ---------------------------

METRICS: tuple[Metric, ...] = ("stars", "forks")
_STAT_COLUMN = {"stars": "stargazers", "forks": "forks"}
HistoryState = Literal["pending", "running", "done", "estimated"]
# How long a backfill run holds a read past its last page (a run that died lets go then).
READ_LEASE = timedelta(minutes=5)


@dataclass
class PendingRead:
    """A repository's stars or forks still to be read from GitHub's list: from its oldest
    end while `next_url` is set, then (capped) from its newest end. The fields named as
    `HistoryRead`'s columns are the row as this run last stored it."""

    repo_id: int
    metric: Metric
    full_name: str
    next_url: str | None  # the oldest end's next page
    counted: int
    through: date
    size: int  # the repository's count when last scanned: what the read has at most
    known_until: date | None = None
    newest_cursor: str | None = None
    newest_total: int | None = None
    newest_seen: int = 0
    newest_pages: int = 0
    exact_from: date | None = None


async def ask_for_history(session: AsyncSession, user_ids: Sequence[int] | None) -> None:
    """Give each repository (of these users, or everyone's) that has none yet a read of
    its stars and of its forks, up to the day before its user was tracked."""
    repos = await repository.repos_without_reads(session, user_ids)
    await repository.add_reads(
        session,
        [
            {
                "repo_id": repo_id,
                "metric": metric,
                "through": through,
                "next_url": GitHub.first_history_url(full_name, metric),
                "counted": 0,
            }
            for repo_id, full_name, through in repos
            for metric in METRICS
        ],
    )


async def reads_to_do(session: AsyncSession, user_ids: Sequence[int] | None) -> list[PendingRead]:
    reads = await repository.unfinished_reads(session, user_ids)
    return [_pending(read, full_name, size) for read, full_name, size in reads]


def _pending(read: HistoryRead, full_name: str, size: int) -> PendingRead:
    return PendingRead(
        repo_id=read.repo_id,
        metric="stars" if read.metric == "stars" else "forks",
        full_name=full_name,
        next_url=read.next_url,
        counted=read.counted,
        through=read.through,
        size=size,
        known_until=read.known_until,
        newest_cursor=read.newest_cursor,
        newest_total=read.newest_total,
        newest_seen=read.newest_seen,
        newest_pages=read.newest_pages,
        exact_from=read.exact_from,
    )


async def claim_read(session: AsyncSession, read: PendingRead) -> PendingRead | None:
    """Hold the read for this run, as it stands now (another run may have read on since
    it was listed); None when another run is reading it or has finished it."""
    now = utcnow()
    if not await repository.claim_read(session, read.repo_id, read.metric, now, now + READ_LEASE):
        return None
    row = await repository.get_read(session, read.repo_id, read.metric)
    return None if row is None else _pending(row, read.full_name, read.size)


async def release_read(session: AsyncSession, read: PendingRead) -> None:
    await repository.update_read(session, read.repo_id, read.metric, claimed_until=None)


async def save_history_page(
    session: AsyncSession, read: PendingRead, page: HistoryPage, *, newest_pages: int
) -> bool:
    """One page of a read's oldest end, counted and stored with where the read goes on
    (resumable from here); True when the read is over. Capped, the read goes on from the
    newest end if `newest_pages` allows it any."""
    counted, points, past_through = history.count_page(page.moments, read.counted, read.through)
    await repository.save_points(session, read.repo_id, read.metric, points)
    over = past_through or page.next_url is None
    values: dict[str, object] = {"counted": counted, "next_url": None if over else page.next_url}
    if page.capped:
        # The last day read may go on past the cap: only the days before it are whole,
        # and its part-count goes (the newest end, or the estimate, has that day).
        last_day = await repository.last_point_day(session, read.repo_id, read.metric)
        known_until = (last_day or read.through) - timedelta(days=1)
        await repository.delete_points_after(session, read.repo_id, read.metric, known_until)
        # The estimate's end: the count first read on the tracking day (today's, failing that).
        reading = await repository.first_reading_after(session, read.repo_id, read.through)
        total = read.size if reading is None else getattr(reading, _STAT_COLUMN[read.metric])
        values |= {"known_until": known_until, "total_at_tracking": total}
        over = newest_pages <= 0
    await _store(session, read, values | _finished_or_held(over))
    return over


async def save_newest_page(
    session: AsyncSession, read: PendingRead, page: NewestPage, *, newest_pages: int
) -> bool:
    """One page of a capped read's newest end; True when the read is over: the list ends,
    it has met the days read from the oldest end, or it has had its `newest_pages`."""
    total = page.total if read.newest_total is None else read.newest_total
    seen, points, exact_from = history.count_newest_page(
        page.moments, read.newest_seen, total, read.through, read.exact_from
    )
    # The days the oldest end read are its own (counted from the same list).
    known_until = read.known_until or read.through
    await repository.save_points(
        session, read.repo_id, read.metric, {d: n for d, n in points.items() if d > known_until}
    )
    pages = read.newest_pages + 1
    over = (
        page.gone
        or page.cursor is None
        or history.ends_meet(read.known_until, exact_from)
        or pages >= newest_pages
    )
    values: dict[str, object] = {
        "newest_cursor": None if over else page.cursor,
        "newest_total": total,
        "newest_seen": seen,
        "newest_pages": pages,
        "exact_from": exact_from,
    }
    await _store(session, read, values | _finished_or_held(over))
    return over


async def finish_read(session: AsyncSession, read: PendingRead) -> None:
    """A read with nothing left to ask GitHub: an empty list, or a capped one whose
    newest end cannot be read (left to its estimate)."""
    await repository.update_read(session, read.repo_id, read.metric, **_finished_or_held(True))


async def _store(session: AsyncSession, read: PendingRead, values: dict[str, object]) -> None:
    """The read's row updated, and the run's copy of it with the same values."""
    await repository.update_read(session, read.repo_id, read.metric, **values)
    for name, value in values.items():
        if hasattr(read, name):
            setattr(read, name, value)


def _finished_or_held(over: bool) -> dict[str, object]:
    """A read's state after a page: over, or held for the run's next page."""
    now = utcnow()
    return (
        {"finished_at": now, "claimed_until": None} if over else {"claimed_until": now + READ_LEASE}
    )


@dataclass(frozen=True)
class HistoryProgress:
    state: HistoryState
    repositories: int
    finished: int  # repositories whose stars and forks are both read


async def history_progress(session: AsyncSession, user: GithubUser) -> HistoryProgress:
    repos, reads = await repository.reads_of(session, user.id)
    finished = [read for read in reads if read.finished_at is not None]
    state: HistoryState
    if user.scanned_on is None:  # its repositories are not known yet
        state = "pending"
    elif len(finished) == len(reads) == repos * len(METRICS):  # no repositories: done
        gaps = any(not history.ends_meet(r.known_until, r.exact_from) for r in finished)
        state = "estimated" if gaps else "done"
    else:
        started = any(r.counted or r.newest_pages or r.finished_at for r in reads)
        state = "running" if started else "pending"
    return HistoryProgress(state, repos, len(finished) // len(METRICS))


@dataclass(frozen=True)
class StatsRow:
    repo_id: int
    day: date
    stargazers: int
    forks: int
    watchers: int | None
    source: history.Source


async def stats_rows(
    session: AsyncSession, user_id: int, start: date, end: date, *, with_history: bool
) -> tuple[GithubUser, list[StatsRow]]:
    """The daily readings and, `with_history`, on the days before tracking the
    reconstructed ones (of the repositories whose stars and forks are both read), by
    repo_id then date."""
    user, stats_rows = await stats(session, user_id, start, end)
    rows = [
        StatsRow(s.repo_id, s.date, s.stargazers, s.forks, s.watchers, "scan") for s in stats_rows
    ]
    if not with_history:
        return user, rows
    reads = {(r.repo_id, r.metric): r for r in await repository.finished_reads_of(session, user_id)}
    points: dict[tuple[int, str], list[tuple[date, int]]] = {}
    for point in await repository.points_of(session, user_id, end):
        points.setdefault((point.repo_id, point.metric), []).append((point.date, point.total))
    read_days = {(row.repo_id, row.day) for row in rows}
    for repo_id in sorted({repo_id for repo_id, _ in reads}):
        stars, forks = reads.get((repo_id, "stars")), reads.get((repo_id, "forks"))
        if stars is None or forks is None:
            continue
        days = history.history_days(
            _reconstruction(stars, points.get((repo_id, "stars"), [])),
            _reconstruction(forks, points.get((repo_id, "forks"), [])),
            start,
            end,
        )
        rows += [
            StatsRow(repo_id, d.day, d.stargazers, d.forks, None, d.source)
            for d in days
            if (repo_id, d.day) not in read_days  # a reading is never overwritten
        ]
    rows.sort(key=lambda row: (row.repo_id, row.day))
    return user, rows


def _reconstruction(read: HistoryRead, points: list[tuple[date, int]]) -> history.Reconstruction:
    return history.Reconstruction(
        points, read.through, read.known_until, read.total_at_tracking, read.exact_from
    )
