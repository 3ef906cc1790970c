from datetime import datetime
from typing import Annotated

from pydantic import AnyUrl, BaseModel, ConfigDict, Field, UrlConstraints

from imagehub.core.fields import Name, UtcDateTime
from imagehub.moderation.models import Status

HttpUrl = Annotated[
    AnyUrl, UrlConstraints(allowed_schemes=["http", "https"], max_length=2048, host_required=True)
]
GroupName = Annotated[Name, Field(min_length=1, max_length=200)]


class ImageOut(BaseModel):
    id: int
    url: str
    status: Status
    created_at: UtcDateTime
    changed_at: UtcDateTime


class ImageDetailOut(ImageOut):
    group_id: int
    group: str


class GroupOut(BaseModel):
    id: int
    name: str
    count: int = Field(description="images listed here (after the status filter)")
    total: int = Field(description="all images of the group")
    images: list[ImageOut]


class StatusIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    status: str


class IdStatusIn(StatusIn):
    id: str | int


class StatusChangeOut(BaseModel):
    from_status: Status
    to_status: Status
    changed_by: str | None = Field(description="the moderator's email")
    changed_at: UtcDateTime


class NewImageIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    group: GroupName
    url: HttpUrl
    status: Status = Status.NEW
    created_at: datetime | None = None


class Statistics(BaseModel):
    new: int
    review: int
    accepted: int
    deleted: int
