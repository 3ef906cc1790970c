import uuid

from pydantic import BaseModel, Field

from imagehub.core.fields import UtcDateTime
from imagehub.moderation.service import Status
from imagehub.processing.models import ImageState, TaskStatus


class ImageLinks(BaseModel):
    original: str | None
    rotated: str | None
    gray: str | None
    scaled: str | None
    thumbnail: str | None = Field(
        description="a small rendition for lists (longest side 400 px by default, JPEG or "
        "WebP); not one of the task's four files"
    )


class TaskImageOut(BaseModel):
    name: str
    state: ImageState
    error: str | None
    width: int
    height: int
    links: ImageLinks
    moderation: Status | None = Field(
        description="its status in the moderation queue (null until its task finished); "
        "`deleted` images are served to staff only"
    )


class HistoryImageOut(TaskImageOut):
    task_id: uuid.UUID
    created_at: UtcDateTime


class TaskStatusOut(BaseModel):
    task_id: uuid.UUID
    status: TaskStatus
    group: str | None
    total: int
    done: int
    failed: int
    created_at: UtcDateTime
    finished_at: UtcDateTime | None
    images: list[TaskImageOut]
