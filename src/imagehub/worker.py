"""The Celery app: configuration, the per-process worker context and the beat schedule.

Workers use the prefork pool with late acknowledgement and reject-on-worker-lost, so a task
whose worker child dies (or whose whole worker is killed) is delivered again; tasks are
written to be safe to run twice. Tasks live in each domain's `tasks.py`, named `domain.action`.
"""

from __future__ import annotations

import ctypes
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from celery import Celery
from celery.signals import setup_logging, worker_process_init, worker_ready
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from imagehub.config import Settings, get_settings
from imagehub.db import create_sync_engine, sync_session_scope, sync_sessionmaker_for
from imagehub.logs import configure_logging
from imagehub.storage import Storage

log = logging.getLogger(__name__)

TASK_MODULES = [
    "imagehub.health.tasks",
    "imagehub.accounts.tasks",
    "imagehub.processing.tasks",
    "imagehub.repostats.tasks",
]
HEARTBEAT_SECONDS = 60.0
HOURLY = 3600.0

celery_app = Celery("imagehub")
_configured_with: Settings | None = None


def celery_config(settings: Settings) -> dict[str, Any]:
    if not settings.broker_url:
        raise ValueError("no broker URL: `imagehub serve` starts an embedded one")
    return {
        "broker_url": settings.broker_url,
        "broker_connection_retry_on_startup": True,
        "broker_transport_options": _transport_options(settings),
        # Task state lives in our own tables; Celery results are not kept.
        "task_ignore_result": True,
        "result_backend": None,
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        "task_serializer": "json",
        "accept_content": ["json"],
        "timezone": "UTC",
        "enable_utc": True,
        "imports": TASK_MODULES,
        "worker_hijack_root_logger": False,
        "beat_schedule": beat_schedule(settings),
    }


def _transport_options(settings: Settings) -> dict[str, Any]:
    """Redis: an unacknowledged message (its worker died) goes back to the queue once the
    visibility timeout has passed. kombu looks for such messages only every ~100 s by
    default; we look every few seconds (a cheap sorted-set range on Redis), so recovery
    takes about the timeout, not the timeout plus a minute and a half."""
    timeout = settings.broker_visibility_timeout_seconds
    return {
        "visibility_timeout": timeout,
        "unacked_restore_interval": max(1, min(10, timeout // 3)),
        "unacked_restore_throttle": 1,
        # Restoring takes a lock that lives 5 minutes by default: a worker killed while
        # holding it would stop every other worker's restores for that long.
        "unacked_mutex_expire": max(2, min(60, timeout // 2)),
    }


def beat_schedule(settings: Settings) -> dict[str, dict[str, Any]]:
    return {
        "health.heartbeat": {"task": "health.heartbeat", "schedule": HEARTBEAT_SECONDS},
        "processing.sweep_stalled": {"task": "processing.sweep_stalled", "schedule": 60.0},
        "accounts.prune_login_attempts": {
            "task": "accounts.prune_login_attempts",
            "schedule": HOURLY,
        },
        # Starts the day's scan at IMAGEHUB_GITHUB_SCAN_AT and resumes one cut short (rate
        # limit, a failing user, a worker that died) from what is stored.
        "repostats.scan_due": {
            "task": "repostats.scan_due",
            "schedule": float(settings.github_scan_check_seconds),
        },
    }


def configure_celery(settings: Settings) -> Celery:
    global _configured_with
    _drop_pooled_connections()
    celery_app.conf.update(celery_config(settings))
    _configured_with = settings
    reset_worker_context()
    return celery_app


def _drop_pooled_connections() -> None:
    # Celery keeps a connection pool and a producer pool for the broker it first used;
    # reconfiguring (tests, a second app in one process) must not publish to the old one.
    # (kombu keeps pools per broker URL, so a later configuration with the same URL finds
    # its pool again; closing it here would break that, dropping our references does not.)
    celery_app._pool = None  # type: ignore[attr-defined]
    celery_app.amqp._producer_pool = None  # type: ignore[attr-defined]


# --- What a task needs: settings, a database and storage, made once per process ----------


@dataclass
class WorkerContext:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    read_sessions: sessionmaker[Session]
    storage: Storage


_context: WorkerContext | None = None


def worker_context() -> WorkerContext:
    """Built lazily in each worker process (after the prefork fork, never before)."""
    global _context
    if _context is None:
        settings = _configured_with or get_settings()
        engine = create_sync_engine(settings.effective_database_url)
        _context = WorkerContext(
            settings=settings,
            engine=engine,
            sessions=sync_sessionmaker_for(engine),
            read_sessions=sync_sessionmaker_for(engine, read_only=True),
            storage=Storage.from_settings(settings),
        )
    return _context


def reset_worker_context() -> None:
    global _context
    if _context is not None:
        _context.engine.dispose(close=False)
    _context = None


@worker_process_init.connect
def _fresh_context_after_fork(**_: Any) -> None:
    # A forked child must not reuse the parent's database connections.
    reset_worker_context()
    # Connected before the first job arrives, which would otherwise wait for it.
    try:
        with worker_context().engine.connect():
            pass
    except Exception:  # the database may be down now; the first job will try again
        log.warning("worker process could not reach the database yet", exc_info=True)


@contextmanager
def task_session(read_only: bool = False) -> Iterator[Session]:
    """The transaction owner for a task: commits on success, rolls back on error.
    `read_only` sessions run outside a transaction (no write lock on SQLite)."""
    context = worker_context()
    factory = context.read_sessions if read_only else context.sessions
    with sync_session_scope(factory) as session:
        yield session


@worker_ready.connect
def _announce_worker(**_: Any) -> None:
    # A first heartbeat at once, rather than a minute later when beat's first one is due.
    celery_app.send_task("health.heartbeat")


@setup_logging.connect
def _use_our_logging(**_: Any) -> None:
    # Connecting this signal stops Celery from installing its own log handlers.
    settings = _configured_with or get_settings()
    configure_logging(settings.log_level, settings.log_format)


def keep_freed_memory_for_reuse() -> None:
    """glibc hands big buffers (a decoded photo is megabytes) back to the kernel on free and
    faults fresh zeroed pages in for the next image; two workers doing so at once ran their
    image pipeline 40-60% slower here. Keeping freed memory in the heap for reuse removes
    that (bench/processing.py, end to end). Linux with glibc only; elsewhere a no-op."""
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return
    mib = 1024 * 1024
    libc.mallopt(_M_MMAP_THRESHOLD, 32 * mib)  # glibc's maximum: heap-allocate up to this
    libc.mallopt(_M_TRIM_THRESHOLD, 256 * mib)  # keep up to this much freed memory
    libc.mallopt(_M_TOP_PAD, 64 * mib)


_M_TRIM_THRESHOLD, _M_TOP_PAD, _M_MMAP_THRESHOLD = -1, -2, -3


def run_worker(settings: Settings, concurrency: int) -> None:
    keep_freed_memory_for_reuse()  # inherited by the pool's children
    configure_celery(settings)
    celery_app.worker_main(
        [
            "worker",
            "--pool=prefork",
            f"--concurrency={concurrency}",
            f"--loglevel={settings.log_level}",
        ]
    )


def run_beat(settings: Settings) -> None:
    configure_celery(settings)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    celery_app.start(
        [
            "beat",
            f"--schedule={settings.data_dir / 'celerybeat-schedule'}",
            f"--loglevel={settings.log_level}",
        ]
    )
