"""The web application: `create_app()` wires settings, database, storage, routes, errors."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from swagger_ui_bundle import swagger_ui_path

from imagehub import __version__
from imagehub.accounts.endpoints import router as accounts_router
from imagehub.accounts.security import TokenCodec
from imagehub.config import Settings, get_settings
from imagehub.db import async_sessionmaker_for, create_async_engine
from imagehub.deps import AppServices
from imagehub.health.endpoints import router as health_router
from imagehub.http_errors import (
    BodySizeLimitMiddleware,
    UnexpectedErrorMiddleware,
    install_error_handlers,
)
from imagehub.moderation.endpoints import files_router
from imagehub.moderation.endpoints import router as moderation_router
from imagehub.observability import RequestContextMiddleware
from imagehub.processing.endpoints import router as processing_router
from imagehub.repostats.endpoints import router as repostats_router
from imagehub.storage import Storage
from imagehub.web.pages import router as pages_router
from imagehub.web.pages import static_files as page_static_files
from imagehub.worker import configure_celery

DEFAULT_BODY_LIMIT = 1024 * 1024

DESCRIPTION = """
Upload JPEG/PNG images and get rotated, gray and half-size copies; moderate images in
groups; track GitHub users' repositories day by day.

Every error has one shape: `{"code": 404, "name": "Not found", "description": "..."}`.
Log in with **Authorize** (your email as the username) to try the protected routes.
"""


def build_services(settings: Settings) -> AppServices:
    engine = create_async_engine(settings.effective_database_url)
    return AppServices(
        settings=settings,
        engine=engine,
        sessionmaker=async_sessionmaker_for(engine),
        storage=Storage.from_settings(settings),
        tokens=TokenCodec(settings),
        url_signing_key=settings.url_signing_key(),
    )


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    services = build_services(settings)
    if settings.broker_url:
        configure_celery(settings)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        await services.engine.dispose()

    app = FastAPI(
        title="imagehub",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        redirect_slashes=False,
    )
    app.state.services = services
    install_error_handlers(app)
    # Each add wraps the ones before it: the request context is outermost, so a request id
    # exists before anything can fail or log.
    upload_limit = settings.upload_max_files * settings.upload_max_file_bytes + DEFAULT_BODY_LIMIT
    app.add_middleware(
        BodySizeLimitMiddleware,
        default_limit=DEFAULT_BODY_LIMIT,
        limits={"/upload": upload_limit},
    )
    app.add_middleware(UnexpectedErrorMiddleware)
    app.add_middleware(RequestContextMiddleware)

    app.include_router(health_router)
    app.include_router(accounts_router)
    app.include_router(processing_router)
    app.include_router(moderation_router)
    app.include_router(files_router)
    app.include_router(repostats_router)
    app.include_router(pages_router)
    app.mount("/static/web", page_static_files, name="web")
    _mount_docs(app)
    return app


def _mount_docs(app: FastAPI) -> None:
    """Swagger UI from the package's own files: the docs work with no internet access."""
    app.mount("/static/swagger", StaticFiles(directory=swagger_ui_path), name="swagger")
    oauth_redirect = "/docs/oauth2-redirect"

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title="imagehub API",
            swagger_js_url="/static/swagger/swagger-ui-bundle.js",
            swagger_css_url="/static/swagger/swagger-ui.css",
            swagger_favicon_url="/static/swagger/favicon-32x32.png",
            oauth2_redirect_url=oauth_redirect,
        )

    @app.get(oauth_redirect, include_in_schema=False)
    async def docs_oauth_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()
