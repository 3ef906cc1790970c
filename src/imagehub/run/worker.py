"""The worker and the scheduler: which tasks exist, when beat sends them, how both start."""

from __future__ import annotations

import ctypes
from pathlib import Path
from typing import Any

from celery import Celery
from celery.signals import setup_logging, worker_ready
from prometheus_client import start_http_server

from imagehub.core.config import ConfigurationError, Settings, get_settings
from imagehub.core.jobs import QueueDepth, celery_app, configure_celery, configured_settings
from imagehub.core.logs import configure_logging
from imagehub.core.metrics import AllMetrics, registry_of
from imagehub.run.embedded import EmbeddedRedis

TASK_MODULES = [
    "imagehub.health.tasks",
    "imagehub.accounts.tasks",
    "imagehub.processing.tasks",
    "imagehub.repostats.tasks",
]
HEARTBEAT_SECONDS = 60.0
HOURLY = 3600.0


def beat_schedule(settings: Settings) -> dict[str, dict[str, Any]]:
    return {
        "health.heartbeat": {"task": "health.heartbeat", "schedule": HEARTBEAT_SECONDS},
        "processing.sweep_stalled": {"task": "processing.sweep_stalled", "schedule": 60.0},
        # Deletes nothing unless IMAGEHUB_TASK_RETENTION_DAYS is set.
        "processing.delete_expired_tasks": {
            "task": "processing.delete_expired_tasks",
            "schedule": HOURLY,
        },
        "processing.sweep_orphans": {"task": "processing.sweep_orphans", "schedule": 6 * HOURLY},
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
        # Reconstructs tracked users' history behind the day's scan, a few minutes a run.
        "repostats.backfill": {"task": "repostats.backfill", "schedule": 300.0},
    }


def _configure(settings: Settings) -> Celery:
    configure_celery(settings)
    celery_app.conf.update(imports=TASK_MODULES, beat_schedule=beat_schedule(settings))
    return celery_app


def configured_app() -> Celery:
    """The app as the environment's settings configure it (or the embedded broker of a
    running `serve`): what `celery -A imagehub.worker ...` loads."""
    settings = get_settings()
    if not settings.broker_url:
        running = EmbeddedRedis.running_url(settings.data_dir)
        if running is None:
            raise ConfigurationError(
                "IMAGEHUB_BROKER_URL is not set and no `imagehub serve` runs on "
                f"{settings.data_dir} (set IMAGEHUB_DATA_DIR to its data folder)"
            )
        settings = settings.model_copy(update={"broker_url": running})
    return _configure(settings)


@worker_ready.connect
def _announce_worker(**_: Any) -> None:
    # A first heartbeat at once, rather than a minute later when beat's first one is due.
    celery_app.send_task("health.heartbeat")


@setup_logging.connect
def _use_our_logging(**_: Any) -> None:
    # Connecting this signal stops Celery from installing its own log handlers.
    settings = configured_settings()
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
    # One heap for all threads: libvips and obstore work in threads of their own, and each
    # thread's heap would keep its own freed buffers (a PNG job's RSS grew 60 MiB over 20
    # jobs with one heap per thread; flat with one).
    libc.mallopt(_M_ARENA_MAX, 1)


_M_TRIM_THRESHOLD, _M_TOP_PAD, _M_MMAP_THRESHOLD, _M_ARENA_MAX = -1, -2, -3, -8


def run_worker(settings: Settings, concurrency: int, celery_options: list[str]) -> None:
    """`celery_options`: any of Celery's own worker options, passed through as given."""
    keep_freed_memory_for_reuse()  # inherited by the pool's children
    _configure(settings)
    if settings.worker_metrics_port:
        # In this, the pool's parent: it reads the figures its children write to the files.
        metrics = AllMetrics(QueueDepth())
        # One scrape here first, so that what a scrape imports (the broker's transport) is
        # imported by this thread: a pool child forked while the server's thread is half-way
        # through an import inherits that module's import lock held, and hangs on it.
        list(metrics.collect())
        start_http_server(settings.worker_metrics_port, registry=registry_of(metrics))
    celery_app.worker_main(
        [
            "worker",
            "--pool=prefork",
            f"--concurrency={concurrency}",
            f"--loglevel={settings.log_level}",
            *celery_options,
        ]
    )


def schedule_file(settings: Settings) -> Path:
    """Where beat keeps its schedule (Python's shelve may add a suffix to the name)."""
    return settings.data_dir / "celerybeat-schedule"


def run_beat(settings: Settings) -> None:
    _configure(settings)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    celery_app.start(
        [
            "beat",
            f"--schedule={schedule_file(settings)}",
            f"--loglevel={settings.log_level}",
        ]
    )
