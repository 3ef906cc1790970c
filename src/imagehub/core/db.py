"""The database: the tables' base and column types, engines, and who owns a transaction.

Three owners open transactions, nobody else: the request's session dependency
(`imagehub.http.deps`), a task (`imagehub.core.jobs`) and a command of the CLI. Each goes
through `Database.transaction()` (sync: workers, commands) or `AsyncDatabase.transaction()`
(async: the API, async tasks and commands), which commit on success and roll back on error.
Services and repositories receive a session and only `flush()`. A job that needs the rows of
a transaction is queued with `after_commit()` and sent once the commit succeeded.

Database code is written once. A query only the API runs is async, one only workers run is
sync; code both sides run is sync, on a `Session`, and the API reaches it with
`await session.run_sync(...)`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import (
    AbstractAsyncContextManager,
    AbstractContextManager,
    asynccontextmanager,
    contextmanager,
)
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, TypeVar

import anyio.to_thread
import sqlalchemy
import sqlalchemy.exc
from sqlalchemy import BigInteger, DateTime, Dialect, Integer, MetaData, String, Table, event, text
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.ext import asyncio as sqlalchemy_asyncio
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

log = logging.getLogger(__name__)
T = TypeVar("T")
E = TypeVar("E", bound=StrEnum)

# --- Tables ---------------------------------------------------------------------------------

# Constraint names are fixed here so migrations name them alike on SQLite and PostgreSQL.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


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


class TextEnum(TypeDecorator[E]):
    """A StrEnum stored as its text (VARCHAR), read back as the member: `Mapped[Role]` holds
    a `Role`. Writing anything that is not a member's value raises before it is sent."""

    impl = String
    cache_ok = True

    def __init__(self, enum: type[E], length: int = 16) -> None:
        super().__init__(length)
        self.enum = enum
        # A dict lookup, not `enum(value)`: a moderation page reads thousands of these.
        self._members: dict[str, E] = {member.value: member for member in enum}

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        return None if value is None else self.enum(value).value

    def process_result_value(self, value: str | None, dialect: Dialect) -> E | None:
        return None if value is None else self._members[value]


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


# --- Engines --------------------------------------------------------------------------------

# (sync driver, async driver) per database.
_DRIVERS = {
    "sqlite": ("sqlite+pysqlite", "sqlite+aiosqlite"),
    "postgresql": ("postgresql+psycopg", "postgresql+asyncpg"),
}
SQLITE_BUSY_TIMEOUT_MS = 15_000


def driver_url(database_url: str, *, asynchronous: bool) -> URL:
    """`sqlite://...` or `postgresql://...` with the driver we use for it."""
    parsed = make_url(database_url)
    backend = parsed.get_backend_name()
    if backend not in _DRIVERS:
        raise ValueError(f"unsupported database {backend!r}: use sqlite:// or postgresql://")
    return parsed.set(drivername=_DRIVERS[backend][asynchronous])


def _engine_options(url: URL, options: dict[str, Any]) -> dict[str, Any]:
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:":
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        return options
    options = {"pool_recycle": 1800, **options}
    if "poolclass" not in options:
        options.setdefault("pool_size", 10)
    # A pooled connection is checked before reuse (one short round trip), so a database
    # restart costs no request an error once the server is back: the dead connections are
    # replaced as they are taken.
    options.setdefault("pool_pre_ping", True)
    return options


def _prepare_sqlite(engine: Engine) -> None:
    """WAL and a busy timeout, since API, worker and beat write at once; and we begin every
    transaction IMMEDIATE so two writers queue on the lock instead of one failing with
    'database is locked' when it upgrades a read transaction."""

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
            return  # reads outside any transaction (Database.reading): no lock to take
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def create_engine(database_url: str, **options: Any) -> Engine:
    """A sync engine: workers, commands, migrations."""
    url = driver_url(database_url, asynchronous=False)
    engine = sqlalchemy.create_engine(url, **_engine_options(url, options))
    if url.get_backend_name() == "sqlite":
        _prepare_sqlite(engine)
    return engine


def create_async_engine(database_url: str, **options: Any) -> AsyncEngine:
    """An async engine: the API, and async work on an event loop of its own (`run_async`)."""
    url = driver_url(database_url, asynchronous=True)
    engine = sqlalchemy_asyncio.create_async_engine(url, **_engine_options(url, options))
    if url.get_backend_name() == "sqlite":
        _prepare_sqlite(engine.sync_engine)
    return engine


# --- Transactions and the jobs they send ----------------------------------------------------

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


def _end_transaction(session: Session, error: BaseException | None) -> list[AfterCommit]:
    """Commit, or roll back on an error (unless the error is a fact worth keeping, such as a
    counted failed login); returns the jobs to run now, dropping the others."""
    if error is None or getattr(error, "keep_changes", False):
        session.commit()
        keep, drop = _AFTER_COMMIT_KEY, _AFTER_ROLLBACK_KEY
    else:
        session.rollback()
        keep, drop = _AFTER_ROLLBACK_KEY, _AFTER_COMMIT_KEY
    session.info.pop(drop, None)
    jobs: list[AfterCommit] = session.info.pop(keep, [])
    return jobs


def run_jobs(jobs: list[AfterCommit]) -> None:
    """Run jobs after the transaction ended; a failure is logged, not raised: the
    transaction's outcome stands, and the periodic sweeps pick up what a lost job would
    have done."""
    for job in jobs:
        try:
            job()
        except Exception:
            log.exception("post-commit job %r failed", job)


@contextmanager
def _transaction(sessions: sessionmaker[Session], durable: bool = True) -> Iterator[Session]:
    error: BaseException | None = None
    with sessions() as session:
        if not durable and session.get_bind().dialect.name == "postgresql":
            # The commit returns before its WAL record is flushed to disk (SQLite's WAL with
            # synchronous=NORMAL does the same): a crash of the server may lose the last
            # such commits, never half of one.
            session.execute(text("SET LOCAL synchronous_commit = off"))
        try:
            yield session
        except BaseException as raised:
            error = raised
        jobs = _end_transaction(session, error)
    run_jobs(jobs)
    if error is not None:
        raise error


@asynccontextmanager
async def _async_transaction(
    sessions: async_sessionmaker[AsyncSession],
) -> AsyncIterator[AsyncSession]:
    error: BaseException | None = None
    async with sessions() as session:
        try:
            yield session
        except BaseException as raised:
            error = raised
        jobs = await session.run_sync(_end_transaction, error)
    if jobs:  # publishing to the broker is blocking I/O: keep it off the event loop
        await anyio.to_thread.run_sync(run_jobs, jobs)
    if error is not None:
        raise error


class Database:
    """A sync engine and its sessions: a worker process's, or a command's."""

    def __init__(self, database_url: str, **engine_options: Any) -> None:
        self.engine = create_engine(database_url, **engine_options)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False, autoflush=False)
        readers = self.engine.execution_options(isolation_level="AUTOCOMMIT")
        self._readers = sessionmaker(readers, expire_on_commit=False, autoflush=False)

    def transaction(self, durable: bool = True) -> AbstractContextManager[Session]:
        """Commits when the block ends, rolls back when it raises. `durable=False`: the
        commit need not wait for the disk, for work that is redone if it is lost (an image
        job: the stall sweep sends again an image left pending)."""
        return _transaction(self._sessions, durable)

    def reading(self) -> AbstractContextManager[Session]:
        """A session outside any transaction, for reads: on SQLite it takes no write lock,
        so it neither waits for a writer nor holds one up."""
        return _transaction(self._readers)

    def dispose(self, close: bool = True) -> None:
        self.engine.dispose(close=close)


class AsyncDatabase:
    """An async engine and its sessions: the API's, or one event loop's (`run_async`)."""

    def __init__(self, database_url: str, **engine_options: Any) -> None:
        self.engine = create_async_engine(database_url, **engine_options)
        self._sessions = async_sessionmaker(self.engine, expire_on_commit=False, autoflush=False)
        readers = self.engine.execution_options(isolation_level="AUTOCOMMIT")
        self._readers = async_sessionmaker(readers, expire_on_commit=False, autoflush=False)

    def transaction(self) -> AbstractAsyncContextManager[AsyncSession]:
        """Commits when the block ends, rolls back when it raises."""
        return _async_transaction(self._sessions)

    def reading(self) -> AbstractAsyncContextManager[AsyncSession]:
        """A session outside any transaction, for a read that must not hold one (on
        SQLite it takes no write lock)."""
        return _async_transaction(self._readers)

    async def dispose(self) -> None:
        await self.engine.dispose()


def run_async(database_url: str, work: Callable[[AsyncDatabase], Awaitable[T]]) -> T:
    """Async work from sync code (a task, a command) on an event loop of its own, with an
    engine of its own: no pooled connection outlives the loop that made it."""

    async def main() -> T:
        database = AsyncDatabase(database_url)
        try:
            return await work(database)
        finally:
            await database.dispose()

    return asyncio.run(main())


# What a database outage raises (the server restarting, a connection it dropped; asyncpg
# lets a refused connect through as the OS's ConnectionRefusedError): worth another try,
# never the caller's fault.
DATABASE_UNAVAILABLE: tuple[type[Exception], ...] = (
    sqlalchemy.exc.OperationalError,
    sqlalchemy.exc.InterfaceError,
    ConnectionError,
)
