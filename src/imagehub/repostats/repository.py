"""Every query of the repo stats domain."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime

from sqlalchemy import delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from imagehub.core.db import dialect_insert, table_of
from imagehub.repostats.github import Account, RepoCounts
from imagehub.repostats.models import GithubUser, Repo, Stat

REPOS = table_of(Repo)
STATS = table_of(Stat)


async def add_user(session: AsyncSession, account: Account, now: datetime) -> GithubUser | None:
    """Track an account; None when it is tracked already (a twin request lost the race)."""
    inserted = await session.execute(
        dialect_insert(session)(GithubUser)
        .values(id=account.id, login=account.login, name=account.name, node_id=account.node_id,
                tracked_at=now)
        .on_conflict_do_nothing(index_elements=["id"])
        .returning(GithubUser.id)
    )  # fmt: skip
    if inserted.scalar() is None:
        return None
    return await session.get(GithubUser, account.id)


async def get_user(session: AsyncSession, user_id: int) -> GithubUser | None:
    return await session.get(GithubUser, user_id)


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


async def known_repos(session: AsyncSession, user_id: int) -> dict[int, RepoCounts]:
    rows = await session.scalars(select(Repo).where(Repo.user_id == user_id))
    return {
        repo.id: RepoCounts(
            repo.id, repo.full_name, repo.stargazers, repo.forks, repo.watchers, repo.etag
        )
        for repo in rows
    }


async def save_scan(
    session: AsyncSession, account: Account, repos: Sequence[RepoCounts], day: date
) -> None:
    """One user's complete scan, in the caller's one transaction: the account as GitHub
    has it now, its repositories, and today's row for each (updated if already there)."""
    await session.execute(
        update(GithubUser)
        .where(GithubUser.id == account.id)
        .values(login=account.login, name=account.name, scanned_on=day, scan_error=None,
                scan_claimed_at=None, scan_retry_at=None)
    )  # fmt: skip
    if not repos:
        return
    insert = dialect_insert(session)
    # In id order, so concurrent scans lock rows in the same order.
    ordered = sorted(repos, key=lambda r: r.id)
    repo_rows = [
        {"id": r.id, "user_id": account.id, "full_name": r.full_name, "etag": r.etag,
         "stargazers": r.stargazers, "forks": r.forks, "watchers": r.watchers}
        for r in ordered
    ]  # fmt: skip
    upsert_repo = insert(REPOS)
    await session.execute(
        upsert_repo.on_conflict_do_update(
            index_elements=["id"],
            set_={
                column: upsert_repo.excluded[column]
                for column in ("user_id", "full_name", "etag", "stargazers", "forks", "watchers")
            },
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
