import anyio.to_thread
from fastapi import Response
from fastapi.responses import JSONResponse

from imagehub import __version__
from imagehub.core.jobs import QueueDepth
from imagehub.core.metrics import render_metrics
from imagehub.health import service
from imagehub.http.deps import ServicesDep, SessionDep
from imagehub.http.openapi import errors
from imagehub.http.routing import Router

router = Router(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is alive (nothing else is checked)."""
    return {"status": "ok", "version": __version__}


@router.get("/readyz", responses=errors(503))
async def readyz(session: SessionDep, services: ServicesDep) -> JSONResponse:
    """The database, the broker and the object storage all answer."""
    checks = await service.readiness(session, services.storage, services.settings.broker_url)
    failing = [name for name, check in checks.items() if not check.ok]
    body: dict[str, object] = {
        "status": "ok" if not failing else "unavailable",
        "version": __version__,
        "checks": {name: check.as_dict() for name, check in checks.items()},
        "workers": await service.live_workers(session) if "database" not in failing else [],
    }
    if failing:
        body = {
            "code": 503,
            "name": "Service unavailable",
            "description": "Unreachable: " + ", ".join(failing),
            **body,
        }
    return JSONResponse(body, status_code=503 if failing else 200)


@router.get("/metrics", include_in_schema=False)
async def metrics(services: ServicesDep) -> Response:
    """Every process's figures that share the metrics folder (all of them under `serve`),
    and the queue's depth asked of the broker."""
    extra = [QueueDepth()] if services.settings.broker_url else []
    # The broker is asked synchronously, so the whole rendering runs off the event loop.
    payload, content_type = await anyio.to_thread.run_sync(render_metrics, *extra)
    return Response(payload, media_type=content_type)
