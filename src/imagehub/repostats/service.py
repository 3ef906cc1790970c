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
from imagehub.repostats.github import GitHub, GitHubError, HistoryPage, Metric, Page, Stored
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


@dataclass
class PendingRead:
    """A repository's stars or forks still to be read from GitHub's list."""

    repo_id: int
    metric: Metric
    full_name: str
    url: str
    counted: int
    through: date
    size: int  # the repository's count when last scanned: what the read has at most


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
    return [
        PendingRead(
            read.repo_id,
            "stars" if read.metric == "stars" else "forks",
            full_name,
            read.next_url or GitHub.first_history_url(full_name, read.metric),  # type: ignore[arg-type]
            read.counted,
            read.through,
            size,
        )
        for read, full_name, size in reads
    ]


async def save_history_page(session: AsyncSession, read: PendingRead, page: HistoryPage) -> bool:
    """One page of a read, counted and stored with where the read goes on (resumable from
    here); True when the read is over."""
    counted, points, past_through = history.count_page(page.moments, read.counted, read.through)
    await repository.save_points(session, read.repo_id, read.metric, points)
    over = past_through or page.next_url is None
    values: dict[str, object] = {"counted": counted, "next_url": None if over else page.next_url}
    if page.capped:
        # The last day read may go on past the cap: only the days before it are whole.
        last_day = await repository.last_point_day(session, read.repo_id, read.metric)
        known_until = (last_day or read.through) - timedelta(days=1)
        # The estimate's end: the count first read on the tracking day (today's, failing that).
        reading = await repository.first_reading_after(session, read.repo_id, read.through)
        total = read.size if reading is None else getattr(reading, _STAT_COLUMN[read.metric])
        values |= {"known_until": known_until, "total_at_tracking": total}
    if over:
        values["finished_at"] = utcnow()
    await repository.update_read(session, read.repo_id, read.metric, **values)
    read.counted, read.url = counted, page.next_url or read.url
    return over


@dataclass(frozen=True)
class HistoryProgress:
    state: HistoryState
    repositories: int
    finished: int  # repositories whose stars and forks are both read


async def history_progress(session: AsyncSession, user_id: int) -> HistoryProgress:
    repos, reads, started, finished, capped = await repository.history_progress(session, user_id)
    state: HistoryState
    if repos and finished == reads == repos * len(METRICS):
        state = "estimated" if capped else "done"
    else:
        state = "running" if started else "pending"
    return HistoryProgress(state, repos, finished // len(METRICS))


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
    return history.Reconstruction(points, read.through, read.known_until, read.total_at_tracking)
