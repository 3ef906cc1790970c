"""The API docs: Swagger UI from the package's own files, so they work with no internet."""

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from swagger_ui_bundle import swagger_ui_path

OAUTH_REDIRECT = "/docs/oauth2-redirect"


def mount_docs(app: FastAPI) -> None:
    app.mount("/static/swagger", StaticFiles(directory=swagger_ui_path), name="swagger")

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title="imagehub API",
            swagger_js_url="/static/swagger/swagger-ui-bundle.js",
            swagger_css_url="/static/swagger/swagger-ui.css",
            swagger_favicon_url="/static/swagger/favicon-32x32.png",
            oauth2_redirect_url=OAUTH_REDIRECT,
        )

    @app.get(OAUTH_REDIRECT, include_in_schema=False)
    async def docs_oauth_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()
