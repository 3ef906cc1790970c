"""Every query of the repo stats domain."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from imagehub.core.db import dialect_insert, table_of
from imagehub.repostats.github import Account, Listed, ListPage, Page, RepoCounts, Stored
from imagehub.repostats.models import (
    GithubListPage,
    GithubUser,
    HistoryPoint,
    HistoryRead,
    Repo,
    Stat,
)

REPOS = table_of(Repo)
STATS = table_of(Stat)
LIST_PAGES = table_of(GithubListPage)
# What a scan writes of a repository.
REPO_COLUMNS = ("user_id", "full_name", "etag", "stargazers", "forks", "watchers", "read_at")


async def add_user(session: AsyncSession, account: Account, now: datetime) -> GithubUser | None:
    """Track an account; None when it is tracked already (a twin request lost the race)."""
    inserted = await session.execute(
        dialect_insert(session)(GithubUser)
        .values(id=account.id, login=account.login, name=account.name, node_id=account.node_id,
                kind=account.kind, tracked_at=now)
        .on_conflict_do_nothing(index_elements=["id"])
        .returning(GithubUser.id)
    )  # fmt: skip
    if inserted.scalar() is None:
        return None
    return await session.get(GithubUser, account.id)


async def get_user(session: AsyncSession, user_id: int) -> GithubUser | None:
    return await session.get(GithubUser, user_id)


async def user_id_by_login(session: AsyncSession, login: str) -> int | None:
    found: int | None = await session.scalar(
        select(GithubUser.id).where(func.lower(GithubUser.login) == login.lower())
    )
    return found


async def list_users(session: AsyncSession) -> list[GithubUser]:
    return list(await session.scalars(select(GithubUser).order_by(GithubUser.login)))


async def delete_user(session: AsyncSession, user_id: int) -> bool:
    # Repositories and their stats go with the user (ON DELETE CASCADE).
    result = await session.execute(delete(GithubUser).where(GithubUser.id == user_id))
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def repos_of(session: AsyncSession, user_id: int) -> list[Repo]:
    query = select(Repo).where(Repo.user_id == user_id).order_by(Repo.full_name)
    return list(await session.scalars(query))


async def stats_of(
    session: AsyncSession, user_id: int, date_from: date, date_to: date
) -> list[Stat]:
    rows = await session.scalars(
        select(Stat)
        .join(Repo, Repo.id == Stat.repo_id)
        .where(Repo.user_id == user_id, Stat.date >= date_from, Stat.date <= date_to)
        .order_by(Stat.repo_id, Stat.date)
    )
    return list(rows)


# --- Scanning --------------------------------------------------------------------------------


async def due_users(
    session: AsyncSession, due_before: date | None, user_ids: Sequence[int] | None, now: datetime
) -> list[GithubUser]:
    """Users whose last complete scan is older than `due_before` and who are not waiting
    for a retry time (None: every user, as asked for, whatever their last scan)."""
    query = select(GithubUser).order_by(GithubUser.id)
    if due_before is not None:
        query = query.where(
            or_(GithubUser.scanned_on.is_(None), GithubUser.scanned_on < due_before),
            or_(GithubUser.scan_retry_at.is_(None), GithubUser.scan_retry_at <= now),
        )
    if user_ids is not None:
        query = query.where(GithubUser.id.in_(user_ids))
    return list(await session.scalars(query))


async def claim(session: AsyncSession, user_id: int, now: datetime, stale: datetime) -> bool:
    """Take a lease on a user for this scanner; False when another holds a fresh one."""
    result = await session.execute(
        update(GithubUser)
        .where(
            GithubUser.id == user_id,
            or_(GithubUser.scan_claimed_at.is_(None), GithubUser.scan_claimed_at < stale),
        )
        .values(scan_claimed_at=now)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def release(
    session: AsyncSession, user_id: int, error: str | None, retry_at: datetime | None
) -> None:
    await session.execute(
        update(GithubUser)
        .where(GithubUser.id == user_id)
        .values(scan_claimed_at=None, scan_error=error, scan_retry_at=retry_at)
    )


async def defer(session: AsyncSession, user_ids: Sequence[int], until: datetime) -> None:
    """Users a spent rate limit kept from their scan wait for its reset."""
    if user_ids:
        await session.execute(
            update(GithubUser).where(GithubUser.id.in_(user_ids)).values(scan_retry_at=until)
        )


async def start_scan(session: AsyncSession, user_id: int, now: datetime) -> None:
    await session.execute(
        update(GithubUser)
        .where(GithubUser.id == user_id)
        .values(scan_started_at=now, scan_cursor=None)
    )


async def stored_scan(session: AsyncSession, user: GithubUser, rest: bool) -> Stored:
    """What REST mode needs of the stored repositories and list pages, and where the scan
    under way stopped (`user.scan_started_at`)."""
    done: frozenset[int] = frozenset()
    if user.scan_started_at is not None:
        read = select(Repo.id).where(Repo.user_id == user.id, Repo.read_at >= user.scan_started_at)
        done = frozenset(await session.scalars(read))
    if not rest:
        return Stored(done=done, cursor=user.scan_cursor)
    repos = await session.scalars(select(Repo).where(Repo.user_id == user.id))
    pages = await session.scalars(select(GithubListPage).where(GithubListPage.user_id == user.id))
    return Stored(
        repos={
            repo.id: RepoCounts(
                repo.id, repo.full_name, repo.stargazers, repo.forks, repo.watchers, repo.etag
            )
            for repo in repos
        },
        listings={page.number: _listing(page) for page in pages},
        done=done,
        cursor=user.scan_cursor,
    )


def _listing(page: GithubListPage) -> ListPage:
    items = tuple(Listed(int(i), str(name), int(s), int(f)) for i, name, s, f in page.items)
    return ListPage(page.number, page.url, page.etag, page.next_url, items)


async def save_page(
    session: AsyncSession, user_id: int, page: Page, day: date, now: datetime
) -> None:
    """One page of a scan, in the caller's one transaction: the account as GitHub has it
    now, the page's repositories with the day's row for each (updated if already there),
    the list page it came from, and where the scan goes on (or that it is complete)."""
    account = page.account
    progress: dict[str, object] = (
        {"scanned_on": day, "scan_error": None, "scan_claimed_at": None, "scan_retry_at": None,
         "scan_started_at": None, "scan_cursor": None}
        if page.last
        else {"scan_claimed_at": now, "scan_cursor": page.cursor}  # the lease stays fresh
    )  # fmt: skip
    await session.execute(
        update(GithubUser)
        .where(GithubUser.id == user_id)
        .values(login=account.login, name=account.name, kind=account.kind, **progress)
    )
    if page.listing is not None:
        await _save_listing(session, user_id, page.listing, last=page.last)
    if not page.repos:
        return
    insert = dialect_insert(session)
    # In id order, so concurrent scans lock rows in the same order.
    ordered = sorted(page.repos, key=lambda r: r.id)
    repo_rows = [
        {"id": r.id, "user_id": user_id, "full_name": r.full_name, "etag": r.etag,
         "stargazers": r.stargazers, "forks": r.forks, "watchers": r.watchers, "read_at": now}
        for r in ordered
    ]  # fmt: skip
    upsert_repo = insert(REPOS)
    await session.execute(
        upsert_repo.on_conflict_do_update(
            index_elements=["id"],
            set_={column: upsert_repo.excluded[column] for column in REPO_COLUMNS},
        ),
        repo_rows,
    )
    stat_rows = [
        {"repo_id": r.id, "date": day, "stargazers": r.stargazers, "forks": r.forks,
         "watchers": r.watchers}
        for r in ordered
    ]  # fmt: skip
    upsert_stat = insert(STATS)
    await session.execute(
        upsert_stat.on_conflict_do_update(
            index_elements=["repo_id", "date"],
            set_={
                column: upsert_stat.excluded[column]
                for column in ("stargazers", "forks", "watchers")
            },
        ),
        stat_rows,
    )


async def _save_listing(session: AsyncSession, user_id: int, listing: ListPage, last: bool) -> None:
    row = {
        "user_id": user_id, "number": listing.number, "url": listing.url, "etag": listing.etag,
        "next_url": listing.next_url,
        "items": [[i.id, i.full_name, i.stargazers, i.forks] for i in listing.items],
    }  # fmt: skip
    upsert = dialect_insert(session)(LIST_PAGES)
    await session.execute(
        upsert.on_conflict_do_update(
            index_elements=["user_id", "number"],
            set_={c: upsert.excluded[c] for c in ("url", "etag", "next_url", "items")},
        ),
        [row],
    )
    if last:  # the list has no more pages than this one now
        await session.execute(
            delete(GithubListPage).where(
                GithubListPage.user_id == user_id, GithubListPage.number > listing.number
            )
        )


# --- History -------------------------------------------------------------------------------

READS = table_of(HistoryRead)
POINTS = table_of(HistoryPoint)


async def repos_without_reads(
    session: AsyncSession, user_ids: Sequence[int] | None
) -> list[tuple[int, str, date]]:
    """(repo id, full name, the day before its user was tracked) of the repositories whose
    history has not been asked for yet (of these users, or everyone's)."""
    query = (
        select(Repo.id, Repo.full_name, GithubUser.tracked_at)
        .join(GithubUser, GithubUser.id == Repo.user_id)
        .outerjoin(HistoryRead, HistoryRead.repo_id == Repo.id)
        .where(HistoryRead.repo_id.is_(None))
        .order_by(Repo.id)
    )
    if user_ids is not None:
        query = query.where(Repo.user_id.in_(user_ids))
    rows = await session.execute(query)
    return [
        (repo_id, name, tracked_at.date() - timedelta(days=1)) for repo_id, name, tracked_at in rows
    ]


async def add_reads(session: AsyncSession, reads: Sequence[dict[str, object]]) -> None:
    if reads:
        statement = dialect_insert(session)(READS).on_conflict_do_nothing(
            index_elements=["repo_id", "metric"]
        )
        await session.execute(statement, list(reads))


async def unfinished_reads(
    session: AsyncSession, user_ids: Sequence[int] | None
) -> list[tuple[HistoryRead, str, int]]:
    """The reads still to do, each with its repository's name and its star or fork count
    (how many items the read has, at most)."""
    query = (
        select(HistoryRead, Repo.full_name, Repo.stargazers, Repo.forks)
        .join(Repo, Repo.id == HistoryRead.repo_id)
        .where(HistoryRead.finished_at.is_(None))
        .order_by(Repo.user_id, HistoryRead.repo_id, HistoryRead.metric)
    )
    if user_ids is not None:
        query = query.where(Repo.user_id.in_(user_ids))
    rows = await session.execute(query)
    return [
        (read, name, stars if read.metric == "stars" else forks)
        for read, name, stars, forks in rows
    ]


async def save_points(
    session: AsyncSession, repo_id: int, metric: str, points: dict[date, int]
) -> None:
    """A page's counts; a day that ran on from the page before gets its larger count."""
    if not points:
        return
    insert = dialect_insert(session)(POINTS)
    statement = insert.on_conflict_do_update(
        index_elements=["repo_id", "metric", "date"], set_={"total": insert.excluded.total}
    )
    rows = [
        {"repo_id": repo_id, "metric": metric, "date": day, "total": total}
        for day, total in points.items()
    ]
    await session.execute(statement, rows)


async def claim_read(
    session: AsyncSession, repo_id: int, metric: str, now: datetime, until: datetime
) -> bool:
    """Hold an unfinished read until `until`; False when another run holds it now."""
    result = await session.execute(
        update(READS)
        .where(
            READS.c.repo_id == repo_id,
            READS.c.metric == metric,
            READS.c.finished_at.is_(None),
            or_(READS.c.claimed_until.is_(None), READS.c.claimed_until < now),
        )
        .values(claimed_until=until)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def get_read(session: AsyncSession, repo_id: int, metric: str) -> HistoryRead | None:
    return await session.get(HistoryRead, (repo_id, metric))


async def update_read(session: AsyncSession, repo_id: int, metric: str, **values: object) -> None:
    await session.execute(
        update(READS).where(READS.c.repo_id == repo_id, READS.c.metric == metric).values(**values)
    )


async def finished_reads_of(session: AsyncSession, user_id: int) -> list[HistoryRead]:
    rows = await session.scalars(
        select(HistoryRead)
        .join(Repo, Repo.id == HistoryRead.repo_id)
        .where(Repo.user_id == user_id, HistoryRead.finished_at.is_not(None))
    )
    return list(rows)


async def points_of(session: AsyncSession, user_id: int, until: date) -> list[HistoryPoint]:
    rows = await session.scalars(
        select(HistoryPoint)
        .join(Repo, Repo.id == HistoryPoint.repo_id)
        .where(Repo.user_id == user_id, HistoryPoint.date <= until)
        .order_by(HistoryPoint.repo_id, HistoryPoint.metric, HistoryPoint.date)
    )
    return list(rows)


async def reads_of(session: AsyncSession, user_id: int) -> tuple[int, list[HistoryRead]]:
    """A user's repository count and their repositories' reads."""
    repos = await session.scalar(select(func.count()).where(Repo.user_id == user_id))
    reads = await session.scalars(
        select(HistoryRead)
        .join(Repo, Repo.id == HistoryRead.repo_id)
        .where(Repo.user_id == user_id)
    )
    return int(repos or 0), list(reads)


async def last_point_day(session: AsyncSession, repo_id: int, metric: str) -> date | None:
    day: date | None = await session.scalar(
        select(func.max(HistoryPoint.date)).where(
            HistoryPoint.repo_id == repo_id, HistoryPoint.metric == metric
        )
    )
    return day


async def delete_points_after(session: AsyncSession, repo_id: int, metric: str, day: date) -> None:
    await session.execute(
        delete(HistoryPoint).where(
            HistoryPoint.repo_id == repo_id, HistoryPoint.metric == metric, HistoryPoint.date > day
        )
    )


async def first_reading_after(session: AsyncSession, repo_id: int, day: date) -> Stat | None:
    """The repository's first daily reading after `day`: the tracking day's, as a rule."""
    found: Stat | None = await session.scalar(
        select(Stat).where(Stat.repo_id == repo_id, Stat.date > day).order_by(Stat.date).limit(1)
    )
    return found
