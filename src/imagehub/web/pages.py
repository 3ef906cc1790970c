"""The pages people use in a browser: server-rendered shells that call the JSON API.

Each page is a Jinja2 template (autoescaped: every user-supplied string is escaped) and a
small plain script under /static/web that reads and writes through the same JSON API as any
client, with the session cookie and the CSRF token from the page's <meta>. The page
handlers only decide who may see which page; they never read domain data themselves.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from imagehub import __version__
from imagehub.accounts import service as accounts
from imagehub.accounts.dependencies import Role, User, session_token
from imagehub.core.errors import Unauthorized
from imagehub.http.deps import ServicesDep, SessionDep
from imagehub.http.routing import Router

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")
static_files = StaticFiles(directory=HERE / "static")

router = Router(include_in_schema=False)


@dataclass(frozen=True)
class Page:
    path: str
    title: str
    template: str
    role: Role | None  # None: open to anyone, signed in or not
    in_menu: bool = True


PAGES = {
    page.path: page
    for page in (
        Page("sign-in", "Sign in", "sign_in.html", None, in_menu=False),
        Page("upload", "Upload", "upload.html", Role.USER),
        Page("history", "History", "history.html", Role.USER),
        Page("moderation", "Moderation", "moderation.html", Role.MODERATOR),
        Page("statistics", "Statistics", "statistics.html", Role.MODERATOR),
        Page("repos", "Repo stats", "repos.html", Role.USER),
        Page("account", "Account", "account.html", Role.USER, in_menu=False),
    )
}


async def _signed_in(token: str | None, services: ServicesDep, session: SessionDep) -> User | None:
    if not token:
        return None
    try:
        return await accounts.get_active_user(session, services.tokens.verify(token))
    except Unauthorized:
        return None


@router.get("/")
async def home() -> Response:
    return RedirectResponse("/app/upload", status_code=303)


@router.get("/app/{name}")
async def page(name: str, request: Request, services: ServicesDep, session: SessionDep) -> Response:
    chosen = PAGES.get(name)
    if chosen is None:
        return _render(request, "not_found.html", "Not found", None, None, status_code=404)
    token = session_token(request)
    user = await _signed_in(token, services, session)
    if chosen.role is not None and user is None:
        return RedirectResponse(f"/app/sign-in?next={quote('/app/' + name)}", status_code=303)
    csrf = services.tokens.csrf_token(token) if user is not None and token else ""
    allowed = chosen.role is None or (user is not None and user.role.includes(chosen.role))
    return _render(
        request,
        chosen.template if allowed else "forbidden.html",
        chosen.title,
        user,
        csrf,
        status_code=200 if allowed else 403,
        page=chosen,
        limits={
            "max_files": services.settings.upload_max_files,
            "max_file_bytes": services.settings.upload_max_file_bytes,
        },
    )


def _render(
    request: Request,
    template: str,
    title: str,
    user: User | None,
    csrf: str | None,
    *,
    status_code: int,
    **context: Any,
) -> HTMLResponse:
    menu = [
        p for p in PAGES.values()
        if p.in_menu and user is not None and p.role is not None
        and user.role.includes(p.role)
    ]  # fmt: skip
    response = templates.TemplateResponse(
        request,
        template,
        {"title": title, "user": user, "csrf": csrf or "", "menu": menu,
         "version": __version__, "current": context.get("page"), **context},
        status_code=status_code,
    )  # fmt: skip
    # Pages are per user and carry a CSRF token: never cached, never framed by others.
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    response.headers["Referrer-Policy"] = "same-origin"
    return response


# Scripts and styles from our own origin only (no inline script), images from anywhere the
# API links to (signed local URLs or presigned S3 URLs on another host).
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; "
    "img-src 'self' data: blob: https: http:; connect-src 'self'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
