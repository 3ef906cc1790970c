"""The task queue: the Celery app every domain's tasks register on, and what a task gets in
its worker process (settings, the database, storage) with the transactions it opens.

Workers use the prefork pool with late acknowledgement and reject-on-worker-lost, so a task
whose worker child dies (or whose whole worker is killed) is delivered again; tasks are
written to be safe to run twice. Tasks live in each domain's `tasks.py`, named
`domain.action`, and open every transaction they need themselves: `transaction()` and
`reading()` for sync work, `run_async()` for async work. `imagehub.run.worker` runs them.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, TypeVar

from celery import Celery, Task
from celery.signals import (
    task_failure,
    task_postrun,
    task_prerun,
    task_retry,
    task_success,
    worker_process_init,
)
from kombu.exceptions import ChannelError
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector
from sqlalchemy.orm import Session

from imagehub.core import db
from imagehub.core.config import Settings, get_settings
from imagehub.core.metrics import (
    JOB_DURATION,
    JOBS_FAILED,
    JOBS_RETRIED,
    JOBS_STARTED,
    JOBS_SUCCEEDED,
)
from imagehub.core.storage import Storage

log = logging.getLogger(__name__)
T = TypeVar("T")

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
        "worker_hijack_root_logger": False,
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


def configure_celery(settings: Settings) -> Celery:
    """Point the app at the configured broker (the API sends, workers also run tasks)."""
    global _configured_with
    _drop_pooled_connections()
    celery_app.conf.update(celery_config(settings))
    _configured_with = settings
    reset_worker_context()
    return celery_app


def configured_settings() -> Settings:
    """The settings `configure_celery` was given (or, in a bare process, the environment's)."""
    return _configured_with or get_settings()


def _drop_pooled_connections() -> None:
    # Celery keeps a connection pool and a producer pool for the broker it first used;
    # reconfiguring (tests, a second app in one process) must not publish to the old one.
    # (kombu keeps pools per broker URL, so a later configuration with the same URL finds
    # its pool again; closing it here would break that, dropping our references does not.)
    celery_app._pool = None  # type: ignore[attr-defined]
    celery_app.amqp._producer_pool = None  # type: ignore[attr-defined]


# --- What a task gets: settings, a database and storage, made once per process ----------


@dataclass
class WorkerContext:
    settings: Settings
    database: db.Database
    storage: Storage


_context: WorkerContext | None = None


def worker_context() -> WorkerContext:
    """Built lazily in each worker process (after the prefork fork, never before)."""
    global _context
    if _context is None:
        settings = configured_settings()
        _context = WorkerContext(
            settings=settings,
            database=db.Database(settings.effective_database_url),
            storage=Storage.from_settings(settings),
        )
    return _context


def reset_worker_context() -> None:
    global _context
    if _context is not None:
        # close=False: after a fork the parent's connections are not ours to close.
        _context.database.dispose(close=False)
    _context = None


@worker_process_init.connect
def _fresh_context_after_fork(**_: Any) -> None:
    # A forked child must not reuse the parent's database connections.
    reset_worker_context()
    # Connected before the first job arrives, which would otherwise wait for it.
    try:
        with worker_context().database.engine.connect():
            pass
    except Exception:  # the database may be down now; the first job will try again
        log.warning("worker process could not reach the database yet", exc_info=True)


def jobs_waiting() -> int:
    """Messages waiting in the default queue, as the broker counts them (not those a worker
    holds unacknowledged). Raises when the broker does not answer."""
    queue = celery_app.amqp.queues[celery_app.conf.task_default_queue]
    with celery_app.connection_for_write() as connection:
        connection.ensure_connection(max_retries=1)  # a broker that is down: fail at once
        try:
            declared: Any = queue.bind(connection.default_channel).queue_declare(passive=True)
        except ChannelError:  # no such queue yet: Redis drops a list once it is empty
            return 0
    return int(declared.message_count)


class QueueDepth(Collector):
    """Jobs waiting in the broker's queue, asked at each scrape (nothing when the broker
    does not answer: a missing figure, not a made-up 0)."""

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(
            "imagehub_queue_jobs_waiting", "Jobs waiting in the broker's queue", labels=["queue"]
        )
        try:
            family.add_metric([celery_app.conf.task_default_queue], jobs_waiting())
        except Exception:
            log.warning("the broker did not say how many jobs wait", exc_info=True)
        yield family


# --- What every job counts (in the worker's pool children) -------------------------------

_started: dict[str, float] = {}


@task_prerun.connect
def _job_started(task_id: str, task: Task[Any, Any], **_: Any) -> None:
    _started[task_id] = time.perf_counter()
    JOBS_STARTED.labels(task.name).inc()


@task_postrun.connect
def _job_ended(task_id: str, task: Task[Any, Any], **_: Any) -> None:
    started = _started.pop(task_id, None)
    if started is not None:
        JOB_DURATION.labels(task.name).observe(time.perf_counter() - started)


@task_success.connect
def _job_succeeded(sender: Task[Any, Any], **_: Any) -> None:
    JOBS_SUCCEEDED.labels(sender.name).inc()


@task_failure.connect
def _job_failed(sender: Task[Any, Any], **_: Any) -> None:
    JOBS_FAILED.labels(sender.name).inc()


@task_retry.connect
def _job_retried(sender: Task[Any, Any], **_: Any) -> None:
    JOBS_RETRIED.labels(sender.name).inc()


# --- The transactions of a task --------------------------------------------------------------


def transaction(durable: bool = True) -> AbstractContextManager[Session]:
    """A transaction of a sync task: commits when the block ends, rolls back if it raises
    (`durable`: see `Database.transaction`)."""
    return worker_context().database.transaction(durable)


def reading() -> AbstractContextManager[Session]:
    """Reads of a sync task, outside any transaction (no write lock on SQLite)."""
    return worker_context().database.reading()


def run_async(work: Callable[[db.AsyncDatabase], Awaitable[T]]) -> T:
    """Async work of a task on an event loop of its own; `work` opens its transactions with
    `database.transaction()`."""
    return db.run_async(worker_context().settings.effective_database_url, work)
