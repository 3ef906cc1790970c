"""The API docs: Swagger UI 5 (which reads the OpenAPI 3.1 FastAPI writes) and ReDoc, from
the files of the fastapi-offline package, so they work with no internet at all."""

from pathlib import Path

import fastapi_offline
from fastapi import FastAPI
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

STATIC = Path(fastapi_offline.__file__).parent / "static"
OAUTH_REDIRECT = "/docs/oauth2-redirect"


def mount_docs(app: FastAPI) -> None:
    app.mount("/static/docs", StaticFiles(directory=STATIC), name="docs")
    openapi_url = app.openapi_url or "/openapi.json"

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=openapi_url,
            title="imagehub API",
            swagger_js_url="/static/docs/swagger-ui-bundle.js",
            swagger_css_url="/static/docs/swagger-ui.css",
            swagger_favicon_url="/static/docs/favicon.png",
            oauth2_redirect_url=OAUTH_REDIRECT,
            # The token a password login gets is kept across reloads of the page.
            swagger_ui_parameters={"persistAuthorization": True},
        )

    @app.get(OAUTH_REDIRECT, include_in_schema=False)
    async def docs_oauth_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    @app.get("/redoc", include_in_schema=False)
    async def redoc() -> HTMLResponse:
        return get_redoc_html(
            openapi_url=openapi_url,
            title="imagehub API",
            redoc_js_url="/static/docs/redoc.standalone.js",
            redoc_favicon_url="/static/docs/favicon.png",
            with_google_fonts=False,
        )
