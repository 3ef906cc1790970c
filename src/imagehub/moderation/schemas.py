import datetime
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import (
    AnyUrl,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictInt,
    StrictStr,
    UrlConstraints,
)

from imagehub.core.fields import Name, PastDateTime, UtcDateTime
from imagehub.moderation.models import Status


def _has_a_host(value: object) -> object:
    # The URL parser would read `https:///x` as `https://x/`: a host must be there as sent.
    if isinstance(value, str) and not urlsplit(value).hostname:
        raise ValueError("must name a host, as in https://example.com/image.jpg")
    return value


HttpUrl = Annotated[
    AnyUrl,
    UrlConstraints(allowed_schemes=["http", "https"], max_length=2048, host_required=True),
    BeforeValidator(_has_a_host),
]
GroupName = Annotated[Name, Field(min_length=1, max_length=200)]


class UploadOut(BaseModel):
    """What a moderator judges an upload by, beside the image itself."""

    name: str = Field(description="the file's name as uploaded")
    uploaded_by: str | None = Field(description="the uploader's email (null once deleted)")
    width: int
    height: int
    size_bytes: int


class ModerationImageOut(BaseModel):
    id: int
    url: str
    upload: UploadOut | None = Field(
        description="the upload it came from (null for an image registered by its URL)"
    )
    thumbnail_url: str | None = Field(
        description="a small rendition to show in lists (uploads only; null for an image "
        "registered by its URL)"
    )
    status: Status
    created_at: UtcDateTime
    changed_at: UtcDateTime


class ImageDetailOut(ModerationImageOut):
    group_id: int
    group: str


class GroupOut(BaseModel):
    id: int
    name: str
    count: int = Field(description="images listed here (after the status filter)")
    total: int = Field(description="all images of the group")
    images: list[ModerationImageOut]


class StatusIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    status: str


class IdStatusIn(StatusIn):
    # Strict: a JSON `true` or `1.0` is no id (the service parses the text form).
    id: StrictInt | StrictStr


MAX_BULK = 500


class IdsStatusIn(StatusIn):
    ids: list[StrictInt | StrictStr] = Field(
        min_length=1,
        max_length=MAX_BULK,
        description=f"1 to {MAX_BULK} image ids; an unknown or malformed one refuses them all",
        json_schema_extra={"items": {"type": "integer", "minimum": 1, "maximum": 2**63 - 1}},
    )


class UpdatedOut(BaseModel):
    updated: int = Field(description="images whose status was set (each change recorded)")


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
    created_at: PastDateTime | None = None


def _one_or_many(value: object) -> object:
    return value if isinstance(value, list) else [value]


# One image or a list of them, read as a list: a refused field is named by its place
# (`0.url`), and no union reports the other shape's mismatch as well.
NewImagesIn = Annotated[
    list[NewImageIn],
    BeforeValidator(_one_or_many, json_schema_input_type=NewImageIn | list[NewImageIn]),
]


class Statistics(BaseModel):
    new: int
    review: int
    accepted: int
    deleted: int


class DayOut(BaseModel):
    date: datetime.date
    created: Statistics = Field(description="images created that day, by their status now")
    changed: Statistics = Field(
        description="images whose last status change was that day, by the status it set "
        "(a new image's changed_at is its created_at)"
    )


class DailyOut(BaseModel):
    days: list[DayOut] = Field(description="every UTC day of the range, oldest first, today last")
    backlog: int = Field(description="images waiting for a decision now (new + review)")
