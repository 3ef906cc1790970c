from typing import Any

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from imagehub.accounts import service
from imagehub.accounts.dependencies import (
    SESSION_COOKIE,
    CurrentUser,
    require_csrf,
    session_token,
)
from imagehub.accounts.models import User
from imagehub.accounts.schemas import (
    AccountDeletionIn,
    LoginIn,
    MeOut,
    QuotasOut,
    RegistrationIn,
    RegistrationOut,
    SessionOut,
    TokenOut,
    UsageOut,
    UserOut,
)
from imagehub.http.deps import ServicesDep, SessionDep, StorageDep
from imagehub.http.openapi import errors
from imagehub.http.routing import Router
from imagehub.processing import service as processing

router = Router(tags=["accounts"])

_LOGIN_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": LoginIn.model_json_schema()},
            "application/x-www-form-urlencoded": {
                "schema": {
                    "type": "object",
                    "required": ["username", "password"],
                    "properties": {
                        "username": {"type": "string", "description": "your email"},
                        "password": {"type": "string", "format": "password"},
                    },
                }
            },
        },
    }
}


@router.post(
    "/registration", status_code=201, response_model=RegistrationOut, responses=errors(409)
)
async def register(
    body: RegistrationIn, session: SessionDep, services: ServicesDep
) -> RegistrationOut:
    """Create an account and log it in. The email must not be taken (in any letter case)."""
    user = await service.register(
        session,
        email=body.email,
        password=body.password,
        first_name=body.first_name,
        last_name=body.last_name,
    )
    issued = services.tokens.issue(user.id)
    return RegistrationOut(
        access_token=issued.token, expires_in=issued.expires_in, user=UserOut.model_validate(user)
    )


async def _read_login(request: Request) -> LoginIn:
    """JSON `{email, password}` or the OAuth2 password form (`username`, `password`)."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    try:
        if content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
            form = await request.form()
            fields = {"email": form.get("username"), "password": form.get("password")}
            return LoginIn.model_validate({k: v for k, v in fields.items() if v is not None})
        return LoginIn.model_validate_json(await request.body())
    except ValidationError as error:
        errors = [{**e, "loc": ("body", *e["loc"])} for e in error.errors(include_url=False)]
        raise RequestValidationError(errors) from error


@router.post(
    "/login", response_model=TokenOut, openapi_extra=_LOGIN_BODY, responses=errors(401, 429)
)
async def login(request: Request, session: SessionDep, services: ServicesDep) -> TokenOut:
    """Exchange email and password for a bearer token."""
    user = await _authenticate(await _read_login(request), request, session, services)
    issued = services.tokens.issue(user.id)
    return TokenOut(access_token=issued.token, expires_in=issued.expires_in)


async def _authenticate(
    body: LoginIn, request: Request, session: SessionDep, services: ServicesDep
) -> User:
    """The password check /login and /session share, throttled per (email, client IP)."""
    return await service.authenticate(
        session,
        services.settings,
        email=body.email,
        password=body.password,
        client_ip=_client_ip(request),
    )


def _client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


@router.post("/session", response_model=SessionOut, responses=errors(401, 429))
async def open_session(
    body: LoginIn, request: Request, response: Response, session: SessionDep,
    services: ServicesDep,
) -> SessionOut:  # fmt: skip
    """Sign in for the web pages: the token goes into an HttpOnly, SameSite=Strict cookie
    that scripts cannot read; the answer carries the CSRF token the pages send back on
    unsafe methods. JSON only, so a cross-site form cannot sign a browser in."""
    user = await _authenticate(body, request, session, services)
    issued = services.tokens.issue(user.id)
    response.set_cookie(
        SESSION_COOKIE,
        issued.token,
        max_age=issued.expires_in,
        path="/",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return SessionOut(
        csrf_token=services.tokens.csrf_token(issued.token),
        expires_in=issued.expires_in,
        user=UserOut.model_validate(user),
    )


@router.delete("/session", status_code=204, responses=errors(403))
async def close_session(request: Request, services: ServicesDep) -> Response:
    """Sign out of the web pages (forget the cookie)."""
    token = session_token(request)
    if token:
        require_csrf(request, services, token)
    response = Response(status_code=204)
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
    return response


@router.get("/users/me", response_model=MeOut)
async def me(user: CurrentUser, session: SessionDep, services: ServicesDep) -> MeOut:
    """The account behind the token, with what it stores and may store."""
    usage = await processing.usage_of(session, user.id)
    settings = services.settings
    return MeOut(
        **UserOut.model_validate(user).model_dump(),
        usage=UsageOut(bytes_stored=usage.bytes_stored, images_today=usage.images_today),
        quotas=QuotasOut(
            bytes_stored=settings.quota_bytes_per_user,
            images_per_day=settings.quota_images_per_day,
        ),
    )


@router.delete("/users/me", status_code=204, responses=errors(403, 429))
async def delete_me(
    body: AccountDeletionIn, request: Request, user: CurrentUser, session: SessionDep,
    services: ServicesDep, storage: StorageDep,
) -> Response:  # fmt: skip
    """Delete your account, proven with its password: every task and stored file of it and
    the moderation images of your uploads. Status changes you made as a moderator stay,
    under your email. Wrong passwords are throttled as logins are."""
    await service.delete_own_account(
        session, services.settings, storage, user, password=body.password,
        client_ip=_client_ip(request),
    )  # fmt: skip
    return Response(status_code=204)
