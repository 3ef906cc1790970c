from imagehub.accounts import service
from imagehub.db import run_in_async_session
from imagehub.worker import celery_app, worker_context


@celery_app.task(name="accounts.prune_login_attempts")
def prune_login_attempts() -> int:
    """Forget failed-login counts whose window has passed (the table stays small)."""
    settings = worker_context().settings
    return run_in_async_session(
        settings.effective_database_url,
        lambda session: service.prune_login_attempts(session, settings),
    )
