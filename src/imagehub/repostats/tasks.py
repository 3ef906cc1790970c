"""Celery jobs of repo stats: the scan beat keeps up with, and scans asked for."""

import asyncio
import dataclasses
from collections.abc import Sequence
from typing import Any

from sqlalchemy.pool import NullPool

from imagehub.config import Settings
from imagehub.db import async_sessionmaker_for, create_async_engine, utcnow
from imagehub.repostats import service
from imagehub.repostats.github import GitHub
from imagehub.worker import celery_app, worker_context


def run_scan(settings: Settings, *, due_now: bool, user_ids: Sequence[int] | None = None,
             **options: Any) -> service.ScanReport:  # fmt: skip
    """One scan on its own event loop and engine (Celery workers and the CLI are sync)."""

    async def run() -> service.ScanReport:
        engine = create_async_engine(settings.effective_database_url, poolclass=NullPool)
        due = service.due_before(utcnow(), settings.github_scan_at) if due_now else None
        try:
            async with GitHub(settings) as github:
                return await service.scan(
                    async_sessionmaker_for(engine), github, due=due, user_ids=user_ids,
                    users_in_flight=settings.github_concurrency * 2, **options,
                )  # fmt: skip
        finally:
            await engine.dispose()

    return asyncio.run(run())


@celery_app.task(name="repostats.scan_due")
def scan_due() -> dict[str, Any]:
    """Every tracked user whose scan for the day is due (beat, every few minutes)."""
    report = run_scan(worker_context().settings, due_now=True)
    return dataclasses.asdict(report)


@celery_app.task(name=service.SCAN_USERS)
def scan_users(user_ids: list[int] | None = None) -> dict[str, Any]:
    """These users (or all) now, whatever their last scan: a new user's first scan, or an
    admin's POST /v1/scan. Today's rows are updated, never duplicated."""
    report = run_scan(worker_context().settings, due_now=False, user_ids=user_ids)
    return dataclasses.asdict(report)
