"""Database: the declarative base, engines and the two session scopes.

The API uses async sessions; workers and the CLI use sync ones. Whoever opens a session owns
its transaction: `async_session_scope` / `sync_session_scope` commit on success and roll back
on error. Services and repositories only `flush()`. Jobs that depend on the rows of a
transaction are queued with `after_commit()` and sent only once the commit succeeded.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import anyio.to_thread
from sqlalchemy import BigInteger, DateTime, Dialect, Integer, MetaData, Table, event
from sqlalchemy import create_engine as _create_sync_engine
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.ext.asyncio import create_async_engine as _create_async_engine
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.pool import NullPool
from sqlalchemy.types import TypeDecorator

log = logging.getLogger(__name__)
T = TypeVar("T")

# Constraint names are fixed here so migrations name them alike on SQLite and PostgreSQL.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

SQLITE_BUSY_TIMEOUT_MS = 15_000


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


# 64-bit ids on PostgreSQL; on SQLite only INTEGER PRIMARY KEY is the autoincrementing rowid.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC and always read back timezone-aware (SQLite keeps no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; use datetime.now(UTC)")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


def table_of(model: type[Base]) -> Table:
    """A model's table, for the hot write paths: Core statements on a Table skip the ORM's
    bulk insert/update machinery, which costs more than such short queries themselves."""
    table = model.__table__
    assert isinstance(table, Table)
    return table


def dialect_insert(session: AsyncSession | Session) -> Any:
    """INSERT with ON CONFLICT for the session's database (both dialects spell it alike)."""
    dialect = session.get_bind().dialect.name
    return postgresql_insert if dialect == "postgresql" else sqlite_insert


# --- URLs and engines -------------------------------------------------------------------

_ASYNC_DRIVERS = {"sqlite": "sqlite+aiosqlite", "postgresql": "postgresql+asyncpg"}
_SYNC_DRIVERS = {"sqlite": "sqlite+pysqlite", "postgresql": "postgresql+psycopg"}


def _with_driver(url: str, drivers: dict[str, str]) -> URL:
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend not in drivers:
        raise ValueError(f"unsupported database {backend!r}: use sqlite:// or postgresql://")
    return parsed.set(drivername=drivers[backend])


def async_url(url: str) -> URL:
    return _with_driver(url, _ASYNC_DRIVERS)


def sync_url(url: str) -> URL:
    return _with_driver(url, _SYNC_DRIVERS)


def _prepare_sqlite(engine: Engine, url: URL) -> None:
    """WAL and a busy timeout, since API, worker and beat write at once; and we begin every
    transaction IMMEDIATE so two writers queue on the lock instead of one failing with
    'database is locked' when it upgrades a read transaction."""
    if url.database and url.database != ":memory:":
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves, below
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        if connection.get_execution_options().get("isolation_level") == "AUTOCOMMIT":
            return  # reads outside any transaction (read_sessionmaker_for): no lock to take
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def create_async_engine(database_url: str, **kwargs: Any) -> AsyncEngine:
    url = async_url(database_url)
    if url.get_backend_name() == "sqlite":
        engine = _create_async_engine(url, **kwargs)
        _prepare_sqlite(engine.sync_engine, url)
        return engine
    # No pre-ping (a round trip per checkout); connections are recycled instead, and a
    # dropped one fails its request and leaves the pool.
    kwargs.setdefault("pool_recycle", 1800)
    if "poolclass" not in kwargs:
        kwargs.setdefault("pool_size", 10)
    return _create_async_engine(url, **kwargs)


def create_sync_engine(database_url: str, **kwargs: Any) -> Engine:
    url = sync_url(database_url)
    if url.get_backend_name() == "sqlite":
        engine = _create_sync_engine(url, **kwargs)
        _prepare_sqlite(engine, url)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return _create_sync_engine(url, **kwargs)


def async_sessionmaker_for(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


def sync_sessionmaker_for(engine: Engine, *, read_only: bool = False) -> sessionmaker[Session]:
    """Sessions for workers. `read_only` ones run outside a transaction, so on SQLite they
    take no write lock and never wait behind (or hold up) a writer."""
    if read_only:
        engine = engine.execution_options(isolation_level="AUTOCOMMIT")
    return sessionmaker(engine, expire_on_commit=False, autoflush=False)


# --- Transactions and jobs sent after commit --------------------------------------------

AfterCommit = Callable[[], None]
_AFTER_COMMIT_KEY = "imagehub.after_commit"
_AFTER_ROLLBACK_KEY = "imagehub.after_rollback"


def _info(session: AsyncSession | Session) -> dict[Any, Any]:
    target = session.sync_session if isinstance(session, AsyncSession) else session
    return target.info


def after_commit(session: AsyncSession | Session, job: AfterCommit) -> None:
    """Run `job` once the session's transaction has committed; drop it on rollback."""
    _info(session).setdefault(_AFTER_COMMIT_KEY, []).append(job)


def after_rollback(session: AsyncSession | Session, job: AfterCommit) -> None:
    """Run `job` if the session's transaction rolls back (to undo work outside the
    database, such as objects already stored); dropped on commit."""
    _info(session).setdefault(_AFTER_ROLLBACK_KEY, []).append(job)


def _take_jobs(session: AsyncSession | Session, keep: str, drop: str) -> list[AfterCommit]:
    info = _info(session)
    info.pop(drop, None)
    jobs: list[AfterCommit] = info.pop(keep, [])
    return jobs


def take_after_commit_jobs(session: AsyncSession | Session) -> list[AfterCommit]:
    """The jobs to run now that the transaction committed (its rollback jobs are dropped)."""
    return _take_jobs(session, keep=_AFTER_COMMIT_KEY, drop=_AFTER_ROLLBACK_KEY)


def take_after_rollback_jobs(session: AsyncSession | Session) -> list[AfterCommit]:
    """The jobs to run now that the transaction rolled back (its commit jobs are dropped)."""
    return _take_jobs(session, keep=_AFTER_ROLLBACK_KEY, drop=_AFTER_COMMIT_KEY)


def run_jobs(jobs: list[AfterCommit]) -> None:
    """Run jobs after the transaction ended; a failure is logged, not raised: the
    transaction's outcome stands, and the periodic sweeps pick up what a lost job would
    have done."""
    for job in jobs:
        try:
            job()
        except Exception:
            log.exception("post-commit job %r failed", job)


def _keeps_changes(error: BaseException) -> bool:
    return bool(getattr(error, "keep_changes", False))


@contextmanager
def sync_session_scope(factory: sessionmaker[Session]) -> Iterator[Session]:
    """The transaction owner for workers and the CLI."""
    with factory() as session:
        try:
            yield session
        except BaseException as error:
            if not _keeps_changes(error):
                session.rollback()
                run_jobs(take_after_rollback_jobs(session))
                raise
            session.commit()
            run_jobs(take_after_commit_jobs(session))
            raise
        session.commit()
    run_jobs(take_after_commit_jobs(session))


@asynccontextmanager
async def async_session_scope(
    factory: async_sessionmaker[AsyncSession],
) -> AsyncIterator[AsyncSession]:
    """The transaction owner for async code: the request dependency and async tasks."""
    async with factory() as session:
        try:
            yield session
        except BaseException as error:
            if not _keeps_changes(error):
                await session.rollback()
                await _run_jobs_in_thread(take_after_rollback_jobs(session))
                raise
            await session.commit()
            await _run_jobs_in_thread(take_after_commit_jobs(session))
            raise
        await session.commit()
    await _run_jobs_in_thread(take_after_commit_jobs(session))


def run_in_async_session(database_url: str, action: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Run one async unit of work from sync code (the CLI, a Celery task) on its own event
    loop, engine and transaction. No pooled connection outlives the loop that made it."""

    async def run() -> T:
        engine = create_async_engine(database_url, poolclass=NullPool)
        try:
            async with async_session_scope(async_sessionmaker_for(engine)) as session:
                return await action(session)
        finally:
            await engine.dispose()

    return asyncio.run(run())


async def _run_jobs_in_thread(jobs: list[AfterCommit]) -> None:
    # Publishing to the broker is blocking I/O; keep it off the event loop.
    if jobs:
        await anyio.to_thread.run_sync(run_jobs, jobs)
