"""Celery jobs of accounts."""

from imagehub.accounts import service
from imagehub.core import jobs
from imagehub.core.db import AsyncDatabase
from imagehub.core.jobs import celery_app


@celery_app.task(name="accounts.prune_login_attempts")
def prune_login_attempts() -> int:
    """Forget failed-login counts whose window has passed (the table stays small)."""
    settings = jobs.worker_context().settings

    async def prune(database: AsyncDatabase) -> int:
        async with database.transaction() as session:
            return await service.prune_login_attempts(session, settings)

    return jobs.run_async(prune)
