import socket

from imagehub.db import utcnow
from imagehub.health import repository
from imagehub.worker import celery_app, task_session


@celery_app.task(name="health.heartbeat")
def heartbeat() -> str:
    """Record that a worker on this host is alive and can reach the database."""
    hostname = socket.gethostname()
    with task_session() as session:
        repository.record_heartbeat(session, hostname, utcnow())
    return hostname
