"""Who is calling: `CurrentUser`, `ModeratorUser`, `AdminUser` for route signatures."""

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends
from fastapi.security import OAuth2PasswordBearer

from imagehub.accounts import service
from imagehub.accounts.models import Role, User
from imagehub.deps import ServicesDep, SessionDep
from imagehub.errors import Forbidden, Unauthorized

# tokenUrl makes the docs' Authorize button log in through POST /login with the form.
bearer_scheme = OAuth2PasswordBearer(tokenUrl="/login", auto_error=False)


async def current_user(
    session: SessionDep,
    services: ServicesDep,
    token: Annotated[str | None, Depends(bearer_scheme)],
) -> User:
    if not token:
        raise Unauthorized("Not authenticated: send `Authorization: Bearer <token>`")
    user_id = services.tokens.verify(token)
    # Read from the database on every request: a deletion or promotion applies at once.
    return await service.get_active_user(session, user_id)


CurrentUser = Annotated[User, Depends(current_user)]


def requires(role: Role) -> Callable[[User], Awaitable[User]]:
    async def check(user: CurrentUser) -> User:
        if not Role(user.role).includes(role):
            raise Forbidden(f"This needs the {role.value} role")
        return user

    return check


ModeratorUser = Annotated[User, Depends(requires(Role.MODERATOR))]
AdminUser = Annotated[User, Depends(requires(Role.ADMIN))]
