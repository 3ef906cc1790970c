import uuid
from typing import Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field

from imagehub.accounts.models import Role
from imagehub.core.fields import Name, PlainText, UtcDateTime

# argon2 has no length limit of its own; this bound only keeps request bodies sane.
Password = Field(min_length=8, max_length=1024)


class RegistrationIn(BaseModel):
    # Unknown fields (a `role`, say) are ignored: roles are granted by an admin only.
    model_config = ConfigDict(extra="ignore")

    email: EmailStr
    password: str = Password
    first_name: Name | None = None
    last_name: Name | None = None


class LoginIn(BaseModel):
    email: PlainText = Field(min_length=1, max_length=320)
    password: str = Field(min_length=1, max_length=1024)


class AccountDeletionIn(BaseModel):
    password: str = Field(min_length=1, max_length=1024, description="the account's password")


class UserOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    email: str
    first_name: str | None
    last_name: str | None
    role: Role
    created_at: UtcDateTime


class UsageOut(BaseModel):
    bytes_stored: int = Field(description="the originals and their copies, in bytes")
    images_today: int = Field(description="images uploaded since 00:00 UTC (deleted ones too)")


class QuotasOut(BaseModel):
    bytes_stored: int | None = Field(description="the most you may store; null: no quota")
    images_per_day: int | None = Field(
        description="the most you may upload a UTC day; null: no quota"
    )


class MeOut(UserOut):
    usage: UsageOut
    quotas: QuotasOut


class TokenOut(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105
    expires_in: int = Field(description="seconds until the token expires")


class RegistrationOut(TokenOut):
    user: UserOut


class SessionOut(BaseModel):
    """A web page's sign-in: the token itself is in the HttpOnly cookie, never in here."""

    csrf_token: str = Field(description="send it as X-CSRF-Token on POST, PUT and DELETE")
    expires_in: int = Field(description="seconds until the session expires")
    user: UserOut
