from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from imagehub.accounts import service
from imagehub.accounts.dependencies import CurrentUser
from imagehub.accounts.schemas import LoginIn, RegistrationIn, RegistrationOut, TokenOut, UserOut
from imagehub.deps import ServicesDep, SessionDep
from imagehub.routing import Router

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


@router.post("/registration", status_code=201, response_model=RegistrationOut)
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


@router.post("/login", response_model=TokenOut, openapi_extra=_LOGIN_BODY)
async def login(request: Request, session: SessionDep, services: ServicesDep) -> TokenOut:
    """Exchange email and password for a bearer token."""
    body = await _read_login(request)
    client_ip = request.client.host if request.client else "unknown"
    user = await service.authenticate(
        session, services.settings, email=body.email, password=body.password, client_ip=client_ip
    )
    issued = services.tokens.issue(user.id)
    return TokenOut(access_token=issued.token, expires_in=issued.expires_in)


@router.get("/users/me", response_model=UserOut)
async def me(user: CurrentUser) -> UserOut:
    """The account behind the token."""
    return UserOut.model_validate(user)
