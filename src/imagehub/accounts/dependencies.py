"""Who is calling: `CurrentUser`, `ModeratorUser`, `AdminUser` for route signatures.

Two ways to send the access token: `Authorization: Bearer` (API clients), or the HttpOnly
session cookie the web pages get from `POST /session`. A cookie rides along with any request
the browser makes, so with a cookie every unsafe method must also carry `X-CSRF-Token`, a
value only our own pages can know (a MAC of the token; see `TokenCodec.csrf_token`).
"""

import uuid
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer

from imagehub.accounts import service
from imagehub.accounts.models import Role, User
from imagehub.core.errors import Forbidden, Unauthorized
from imagehub.http.deps import ServicesDep, SessionDep

# Other domains' endpoints reach accounts through this module: who is calling, and roles.
__all__ = [
    "CSRF_HEADER",
    "SESSION_COOKIE",
    "AdminUser",
    "CallerId",
    "CurrentUser",
    "CurrentUserReadApart",
    "ModeratorUser",
    "Role",
    "User",
    "caller_is_staff",
    "current_user",
    "require_csrf",
    "requires",
    "session_token",
]

# tokenUrl makes the docs' Authorize button log in through POST /login with the form.
bearer_scheme = OAuth2PasswordBearer(tokenUrl="/login", auto_error=False)

SESSION_COOKIE = "imagehub_session"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def session_token(request: Request) -> str | None:
    return request.cookies.get(SESSION_COOKIE) or None


def require_csrf(request: Request, services: ServicesDep, token: str) -> None:
    """An unsafe request riding on the session cookie must prove it comes from our page."""
    if not services.tokens.csrf_matches(token, request.headers.get(CSRF_HEADER)):
        raise Forbidden(f"A cookie session needs the page's {CSRF_HEADER} header")


async def caller_id(
    request: Request,
    services: ServicesDep,
    token: Annotated[str | None, Depends(bearer_scheme)],
) -> uuid.UUID:
    """The account the credentials name, from the token alone (no database): enough to
    refuse a stranger before reading a body, or to count a caller's uploads."""
    if not token:
        token = session_token(request)
        if token and request.method not in SAFE_METHODS:
            require_csrf(request, services, token)
    if not token:
        raise Unauthorized("Not authenticated: send `Authorization: Bearer <token>`")
    return services.tokens.verify(token)


CallerId = Annotated[uuid.UUID, Depends(caller_id)]


async def current_user(caller: CallerId, session: SessionDep) -> User:
    # Read from the database on every request: a deletion or promotion applies at once.
    return await service.get_active_user(session, caller)


async def current_user_read_apart(caller: CallerId, services: ServicesDep) -> User:
    """The caller, read outside the request's transaction, so that a route can receive a
    long body first and begin its transaction only once there is work for it."""
    async with services.database.reading() as session:
        return await service.get_active_user(session, caller)


async def caller_is_staff(request: Request, services: ServicesDep, session: SessionDep) -> bool:
    """Whether the request carries a moderator's or an admin's credentials (bearer or
    cookie); never an error. For routes open to anyone that show staff a little more."""
    token = await bearer_scheme(request) or session_token(request)
    if not token:
        return False
    try:
        user = await service.get_active_user(session, services.tokens.verify(token))
    except Unauthorized:
        return False
    return user.role.includes(Role.MODERATOR)


CurrentUser = Annotated[User, Depends(current_user)]
CurrentUserReadApart = Annotated[User, Depends(current_user_read_apart)]


def requires(role: Role) -> Callable[[User], Awaitable[User]]:
    async def check(user: CurrentUser) -> User:
        if not user.role.includes(role):
            raise Forbidden(f"This needs the {role.value} role")
        return user

    return check


ModeratorUser = Annotated[User, Depends(requires(Role.MODERATOR))]
AdminUser = Annotated[User, Depends(requires(Role.ADMIN))]
