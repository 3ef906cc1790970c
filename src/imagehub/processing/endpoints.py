import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Header, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.datastructures import FormData, UploadFile

from imagehub.accounts.dependencies import CallerId, CurrentUser, CurrentUserReadApart, Role
from imagehub.core.errors import InvalidInput, TooManyRequests
from imagehub.core.fields import no_control_characters
from imagehub.core.pagination import DEFAULT_LIMIT
from imagehub.http.deps import ServicesDep, SessionDep, StorageDep
from imagehub.http.files import file_response
from imagehub.http.openapi import binary, errors
from imagehub.http.params import Cursor, Limit
from imagehub.http.routing import Router
from imagehub.processing import service
from imagehub.processing.models import TaskImage, Variant
from imagehub.processing.schemas import HistoryImageOut, ImageLinks, TaskImageOut, TaskStatusOut
from imagehub.processing.uploads import UploadSlots

IMAGE_TYPES = ("image/jpeg", "image/png", "image/webp")

router = Router(tags=["processing"])

MAX_GROUP_CHARS = 200
UPLOAD_RETRY_SECONDS = 5
_UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["files"],
                    "properties": {
                        "files": {
                            "type": "array",
                            "items": {"type": "string", "format": "binary"},
                            "description": "JPEG or PNG images (.jpg, .jpeg, .png)",
                        },
                        "group": {"type": "string", "description": "moderation group"},
                    },
                }
            }
        },
    }
}


def _viewer(user: CurrentUser) -> service.Viewer:
    return service.Viewer(user.id, user.role is Role.ADMIN)


def _links(image: TaskImage, has: service.StoredFiles) -> ImageLinks:
    def link(variant: Variant) -> str | None:
        if not has.has(image, variant):
            return None
        return f"/task/{image.task_id}/files/{image.file_name(variant)}"

    return ImageLinks(
        original=link(Variant.ORIGINAL),
        rotated=link(Variant.ROTATED),
        gray=link(Variant.GRAY),
        scaled=link(Variant.SCALED),
        thumbnail=f"/task/{image.task_id}/files/{image.thumbnail}" if image.thumbnail else None,
    )


def _status(view: service.TaskView) -> TaskStatusOut:
    task = view.task
    return TaskStatusOut(
        task_id=task.id,
        status=task.status,
        group=task.group_name,
        total=task.total,
        done=task.done,
        failed=task.failed,
        created_at=task.created_at,
        finished_at=task.finished_at,
        images=[TaskImageOut(**_image_fields(image, view)) for image in view.images],
    )


def _image_fields(image: TaskImage, has: service.StoredFiles) -> dict[str, object]:
    return {
        "name": image.name,
        "state": image.state,
        "error": image.error,
        "width": image.width,
        "height": image.height,
        "links": _links(image, has),
        "moderation": has.moderation_of(image),
    }


@dataclass
class UploadForm:
    uploads: list[service.Upload]
    group: str | None


def _upload_slots(request: Request, services: ServicesDep) -> UploadSlots:
    slots: UploadSlots | None = getattr(request.app.state, "upload_slots", None)
    if slots is None:
        settings = services.settings
        slots = UploadSlots(settings.uploads_in_flight, settings.uploads_in_flight_per_user)
        request.app.state.upload_slots = slots
    return slots


async def upload_form(
    request: Request, caller: CallerId, services: ServicesDep
) -> AsyncIterator[UploadForm]:
    """The upload's body, received and checked before any database work, so a slow client
    holds no transaction and no connection; in one of a bounded number of slots."""
    slots = _upload_slots(request, services)
    if not slots.take(caller):
        raise TooManyRequests(
            "Too many uploads in flight (yours or everyone's); send it again shortly",
            retry_after=UPLOAD_RETRY_SECONDS,
        )
    try:
        form = await request.form(
            max_files=services.settings.upload_max_files, max_fields=16, max_part_size=64 * 1024
        )
        try:
            yield _checked_form(form)
        finally:
            await form.close()  # the spooled parts go with it
    finally:
        slots.give_back(caller)


def _checked_form(form: FormData) -> UploadForm:
    files = form.getlist("files")
    if any(not isinstance(item, UploadFile) for item in files):
        raise InvalidInput("`files` must be file parts, not text", name="Invalid upload")
    group = form.get("group")
    if group is not None and not isinstance(group, str):
        raise InvalidInput("`group` must be text", name="Invalid upload")
    group = (group or "").strip() or None
    if group is not None:
        if len(group) > MAX_GROUP_CHARS:
            raise InvalidInput(f"group: at most {MAX_GROUP_CHARS} characters")
        try:
            no_control_characters(group)
        except ValueError as error:
            raise InvalidInput(f"group: {error}") from error
    uploads = [
        service.Upload(item.filename, item.file, item.size or 0)
        for item in files
        if isinstance(item, UploadFile)
    ]
    return UploadForm(uploads, group)


# The draft standard sends the key as a quoted string ("..."); a bare one is taken too.
IDEMPOTENCY_KEY = r'^(?:"[\x20\x21\x23-\x7e]{1,255}"|[\x20\x21\x23-\x7e][\x20-\x7e]{0,254})$'


@router.post(
    "/upload",
    status_code=202,
    response_model=TaskStatusOut,
    openapi_extra=_UPLOAD_BODY,
    responses=errors(409, 413, 422, 429),
)
async def upload(
    # In this order: the body arrives, then the account is read (outside any transaction),
    # then the service stores the originals and only then writes rows.
    form: Annotated[UploadForm, Depends(upload_form)],
    user: CurrentUserReadApart,
    session: SessionDep,
    services: ServicesDep,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            pattern=IDEMPOTENCY_KEY,
            description="any text of 1-255 printable ASCII characters, new for each upload: "
            "sent again with the same files and group within 24 h, it answers with the task "
            "it made (202, nothing stored again); with other files, 422",
        ),
    ] = None,
) -> JSONResponse:
    """Upload one or more JPEG/PNG images; workers make rotated, gray and half-size copies.

    Every file is checked first (type from its bytes, size, pixel count); one refused file
    refuses the whole request, naming each refused file and why, and stores nothing.
    Send an `Idempotency-Key` to make a retry safe (a lost answer, a double click).
    """
    view = await service.accept_upload(
        session,
        services.storage,
        services.settings,
        owner_id=user.id,
        uploads=form.uploads,
        group=form.group,
        idempotency_key=_unquoted(idempotency_key) if idempotency_key else None,
    )
    body = _status(view).model_dump(mode="json")
    return JSONResponse(body, status_code=202, headers={"Location": f"/status/{view.task.id}"})


def _unquoted(key: str) -> str:
    return key[1:-1] if key.startswith('"') else key


@router.get("/status/{task_id}", response_model=TaskStatusOut, responses=errors(404))
async def status(task_id: uuid.UUID, user: CurrentUser, session: SessionDep) -> TaskStatusOut:
    """A task's progress and, per image, its state and the links of its stored files."""
    return _status(await service.task_view(session, _viewer(user), task_id))


@router.get("/history/{user_id}", response_model=list[HistoryImageOut], responses=errors(404))
async def history(
    user_id: uuid.UUID,
    request: Request,
    response: Response,
    user: CurrentUser,
    session: SessionDep,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> list[HistoryImageOut]:
    """A user's processed images, newest first. The next page, if any, is announced in
    `Link: <...>; rel="next"` and `X-Next-Cursor`."""
    page = await service.history(session, _viewer(user), user_id, cursor, limit)
    if page.next_cursor:
        next_url = request.url.include_query_params(cursor=page.next_cursor, limit=limit)
        response.headers["Link"] = f'<{next_url}>; rel="next"'
        response.headers["X-Next-Cursor"] = page.next_cursor
    return [
        HistoryImageOut(
            **_image_fields(image, page), task_id=image.task_id, created_at=image.created_at
        )
        for image in page.images
    ]


@router.get(
    "/task/{task_id}",
    response_class=StreamingResponse,
    responses={200: binary("application/zip", description="the zip"), **errors(404, 409)},
)
async def download_zip(
    task_id: uuid.UUID, user: CurrentUser, session: SessionDep, storage: StorageDep
) -> StreamingResponse:
    """A zip of the task's stored files (`name_suffix.ext`), streamed, once it finished."""
    archive = await service.task_zip(session, storage, _viewer(user), task_id)
    return StreamingResponse(
        archive.chunks,
        media_type="application/zip",
        headers={
            "Content-Length": str(archive.size),
            "Content-Disposition": f'attachment; filename="{archive.filename}"',
        },
    )


@router.delete("/task/{task_id}", status_code=204, responses=errors(404))
async def delete_task(
    task_id: uuid.UUID, user: CurrentUser, session: SessionDep, storage: StorageDep
) -> Response:
    """Delete a task (its owner, or an admin): its stored files (originals, variants,
    thumbnails), its rows and the moderation images made of its uploads. A task still being
    processed is deleted too; its jobs keep nothing."""
    await service.delete_task(session, storage, _viewer(user), task_id)
    return Response(status_code=204)


@router.get(
    "/task/{task_id}/files/{name}",
    response_class=StreamingResponse,
    responses={
        200: binary(*IMAGE_TYPES, description="the file"),
        206: binary(*IMAGE_TYPES, description="the bytes a `Range` asked for"),
        304: {"description": "the copy the client holds (`If-None-Match`) is current"},
        **errors(404, 416),
    },
)
async def download_file(
    request: Request,
    task_id: uuid.UUID,
    name: str,
    user: CurrentUser,
    session: SessionDep,
    storage: StorageDep,
) -> Response:
    """One stored file of a task, or its thumbnail (ETag, Range, Cache-Control: private)."""
    key = await service.file_for_download(session, _viewer(user), task_id, name)
    return await file_response(request, storage, key)
