"""Celery jobs of repo stats: the scan beat keeps up with, and scans asked for. Each runs
`scan.run_scan`, which opens the scan's transactions on an event loop of its own."""

import dataclasses
from typing import Any

from imagehub.core import jobs
from imagehub.core.jobs import celery_app
from imagehub.repostats import service
from imagehub.repostats.scan import run_scan


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
    return dataclasses.asdict(report)
