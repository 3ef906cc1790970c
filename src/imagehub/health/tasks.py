import socket

from imagehub.core import jobs
from imagehub.core.db import utcnow
from imagehub.core.jobs import celery_app
from imagehub.health import repository


@celery_app.task(name="health.heartbeat")
def heartbeat() -> str:
    """Record that a worker on this host is alive and can reach the database."""
    hostname = socket.gethostname()
    with jobs.transaction() as session:
        repository.record_heartbeat(session, hostname, utcnow())
    return hostname
