"""The Celery app, configured from the settings when imported, for Celery's own tools:

    celery -A imagehub.worker inspect ping
    celery -A imagehub.worker events
    celery -A imagehub.worker flower        (Flower installed apart: pip install flower)

With no IMAGEHUB_BROKER_URL it finds the embedded broker of an `imagehub serve` running on
the same data folder. Run the service itself with `imagehub worker` / `imagehub beat`.
"""

from __future__ import annotations

from imagehub.run.worker import configured_app

app = configured_app()
