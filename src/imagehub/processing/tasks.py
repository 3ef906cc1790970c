import uuid

from imagehub.processing import service
from imagehub.processing.models import ImageState
from imagehub.worker import celery_app, task_session, worker_context

# Failures worth another try (a database or storage hiccup); a corrupt image is not one:
# the service marks it failed and the job ends normally.
RETRY_ON = (OSError, ConnectionError, TimeoutError)


@celery_app.task(
    name=service.PROCESS_IMAGE,
    autoretry_for=RETRY_ON,
    retry_backoff=2,
    retry_backoff_max=120,
    max_retries=8,
    soft_time_limit=300,
)
def process_image(task_id: str, image_id: str) -> str | None:
    context = worker_context()
    state: ImageState | None = service.process_image(
        task_session, context.storage, context.settings, uuid.UUID(task_id), uuid.UUID(image_id)
    )
    return state.value if state else None


@celery_app.task(name="processing.sweep_stalled")
def sweep_stalled() -> int:
    with task_session() as session:
        return service.sweep_stalled(session, worker_context().settings.task_stall_seconds)
