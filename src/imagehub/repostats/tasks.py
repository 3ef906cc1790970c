"""Celery jobs of repo stats: the scan beat keeps up with, scans asked for, and the history
backfill behind them. Each opens its transactions on an event loop of its own."""

import dataclasses
from typing import Any

from imagehub.core import jobs
from imagehub.core.jobs import celery_app
from imagehub.repostats import service
from imagehub.repostats.backfill import run_backfill
from imagehub.repostats.scan import run_scan

# A backfill run ends by then, before beat's next look starts another.
BACKFILL_RUN_SECONDS = 240


@celery_app.task(name="repostats.scan_due")
def scan_due() -> dict[str, Any]:
    """Every tracked user whose scan for the day is due (beat, every few minutes)."""
    report = run_scan(jobs.worker_context().settings, due_now=True)
    return dataclasses.asdict(report)


@celery_app.task(name=service.SCAN_USERS)
def scan_users(user_ids: list[int] | None = None) -> dict[str, Any]:
    """These users (or all) now, whatever their last scan: a new user's first scan, or an
    admin's POST /v1/scan. Today's rows are updated, never duplicated."""
    report = run_scan(jobs.worker_context().settings, due_now=False, user_ids=user_ids)
    if user_ids:  # newly tracked, as a rule: their history next, rather than at beat's look
        celery_app.send_task(service.BACKFILL, args=[user_ids])
    return dataclasses.asdict(report)


@celery_app.task(name=service.BACKFILL)
def backfill(user_ids: list[int] | None = None) -> dict[str, Any]:
    """What is left of these users' (or everyone's) history, behind the daily scan, for
    a few minutes at most (beat looks every five)."""
    settings = jobs.worker_context().settings
    report = run_backfill(settings, user_ids=user_ids, seconds=BACKFILL_RUN_SECONDS)
    return dataclasses.asdict(report)
