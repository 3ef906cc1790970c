"""The API process's app: `create_app()` puts every domain's routes on the HTTP edge."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from imagehub import __version__
from imagehub.accounts.endpoints import router as accounts_router
from imagehub.core.config import Settings, get_settings
from imagehub.core.jobs import configure_celery
from imagehub.health.endpoints import router as health_router
from imagehub.http.deps import AppServices
from imagehub.http.docs import mount_docs
from imagehub.http.errors import install_error_handlers
from imagehub.http.middleware import BodyLimits, BodyLimitsMiddleware, RequestMiddleware
from imagehub.http.openapi import install_openapi
from imagehub.moderation import endpoints as moderation
from imagehub.moderation import images_family as moderation_images_family
from imagehub.processing.endpoints import router as processing_router
from imagehub.repostats.endpoints import router as repostats_router
from imagehub.web.pages import router as pages_router
from imagehub.web.pages import static_files as page_static_files

DEFAULT_BODY_LIMIT = 1024 * 1024

DESCRIPTION = """
Upload JPEG/PNG images and get rotated, gray and half-size copies; moderate images in
groups; track GitHub users' repositories day by day.

Every error has one shape: `{"code": 404, "name": "Not found", "description": "..."}`.
Log in with **Authorize** (your email as the username) to try the protected routes.
"""


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    services = AppServices.build(settings)
    if settings.broker_url:
        configure_celery(settings)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        await services.database.dispose()

    app = FastAPI(
        title="imagehub",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        redirect_slashes=False,
        # Operation ids are the endpoints' names (`upload`, `get_image`), so a generated
        # client reads `client.upload(...)`, not `upload_upload_post`.
        generate_unique_id_function=lambda route: route.name,
    )
    app.state.services = services
    install_error_handlers(app)
    # Each add wraps the ones before it: the request layer is outermost, so a request id
    # exists before anything can fail or log.
    upload_bytes = settings.upload_max_files * settings.upload_max_file_bytes + DEFAULT_BODY_LIMIT
    app.add_middleware(
        BodyLimitsMiddleware,
        default=BodyLimits(DEFAULT_BODY_LIMIT, settings.body_seconds),
        by_prefix={"/upload": BodyLimits(upload_bytes, settings.upload_body_seconds)},
    )
    app.add_middleware(RequestMiddleware)

    for router in (
        health_router,
        accounts_router,
        processing_router,
        # The /images/ family first: its fixed paths before /images/{id}.
        moderation_images_family.router,
        moderation.router,
        repostats_router,
        pages_router,
    ):
        app.include_router(router)
    app.mount("/static/web", page_static_files, name="web")
    mount_docs(app)
    install_openapi(app)
    return app
