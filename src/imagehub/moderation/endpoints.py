"""The moderation API, as most clients use it: groups at `/groups`, one image at
`/images/{id}` (a status change answers a message), statistics by creation at
`/statistics`, bulk registration at `POST /images`. Staff only.

`images_family.py` serves the same operations for clients that address everything under
`/images/`. The rules run in the service as sync code, reached with `session.run_sync`.
"""

import time
import uuid
from typing import Annotated, Any

from fastapi import Body, Path, Query, Request, Response
from pydantic_core import to_json

from imagehub.accounts import service as accounts
from imagehub.accounts.dependencies import ModeratorUser, caller_is_staff
from imagehub.core.errors import Forbidden, NotFound
from imagehub.core.fields import MAX_ID, WholeNumber
from imagehub.core.pagination import DEFAULT_LIMIT
from imagehub.core.storage import UrlMaker
from imagehub.http.deps import ServicesDep, SessionDep, StorageDep
from imagehub.http.files import UrlMakerDep, file_response, is_plain_key, verify
from imagehub.http.openapi import errors
from imagehub.http.params import Cursor, Limit
from imagehub.http.routing import Router
from imagehub.moderation import service
from imagehub.moderation.models import Image, Status
from imagehub.moderation.schemas import (
    GroupOut,
    ImageDetailOut,
    NewImagesIn,
    Statistics,
    StatusChangeOut,
    StatusIn,
)

router = Router(tags=["moderation"])


def _one_of_the_statuses(schema: dict[str, Any]) -> None:
    schema.pop("anyOf", None)
    schema.update(type="string", enum=[status.value for status in Status])


# Declared as the enum it is, read as text: `service.parse_status` names a bad one
# ("Invalid status"), as SPEC has it.
StatusFilter = Annotated[
    str | None,
    Query(description="keep only images with this status", json_schema_extra=_one_of_the_statuses),
]
# Declared as the integer it is, read as text: `service.parse_id` names a bad one
# ("Invalid id"), as both route families always have.
ImageId = Annotated[
    str, Path(json_schema_extra={"type": "integer", "minimum": 1, "maximum": MAX_ID})
]
Days = Annotated[
    WholeNumber, Query(ge=1, le=service.MAX_DAYS, description="the last N days (N x 24 h)")
]


async def browser_url(stored: str, make_url: UrlMaker, image_id: int, status: str) -> str:
    """An uploaded original's `storage:<key>` as a link a browser can open; other URLs as
    they are."""
    if stored.startswith(service.STORAGE_SCHEME):
        removed = service.is_removed(Status(status))
        return await make_url(stored.removeprefix(service.STORAGE_SCHEME), image_id, removed)
    return stored


def _upload(
    name: str | None,
    uploaded_by: uuid.UUID | None,
    width: int | None,
    height: int | None,
    size_bytes: int | None,
    emails: dict[uuid.UUID, str],
) -> dict[str, Any] | None:
    if name is None:
        return None  # registered by its URL
    return {
        "name": name,
        "uploaded_by": emails.get(uploaded_by) if uploaded_by else None,
        "width": width,
        "height": height,
        "size_bytes": size_bytes,
    }


async def _image_out(image: Image, make_url: UrlMaker, session: SessionDep) -> dict[str, Any]:
    thumbnail = image.thumbnail_url
    uploader = [image.uploaded_by] if image.uploaded_by else []
    emails = await accounts.emails_of(session, uploader)
    return {
        "id": image.id,
        "url": await browser_url(image.url, make_url, image.id, image.status),
        "thumbnail_url": (
            await browser_url(thumbnail, make_url, image.id, image.status) if thumbnail else None
        ),
        "upload": _upload(
            image.name, image.uploaded_by, image.width, image.height, image.size_bytes, emails
        ),
        "status": image.status,
        "created_at": image.created_at,
        "changed_at": image.changed_at,
    }


async def groups_response(
    request: Request,
    session: SessionDep,
    make_url: UrlMaker,
    status: str | None,
    sort: service.Sort,
    limit: int,
    cursor: str | None,
) -> Response:
    """A page of groups with their images, the next page announced in `Link` and
    `X-Next-Cursor` (both families list groups alike, in their own default order)."""
    page = await session.run_sync(
        service.group_page,
        status=service.parse_status(status) if status else None,
        sort=sort,
        cursor=cursor,
        limit=limit,
    )
    uploaders = [row[8] for view in page.groups for row in view.images if row[8] is not None]
    emails = await accounts.emails_of(session, uploaders)  # one query for the page
    headers = {}
    if page.next_cursor:
        next_url = request.url.include_query_params(cursor=page.next_cursor, limit=limit)
        headers = {"Link": f'<{next_url}>; rel="next"', "X-Next-Cursor": page.next_cursor}
    body: list[dict[str, Any]] = [
        {
            "id": view.group.id,
            "name": view.group.name,
            "count": len(view.images),
            "total": view.total,
            # Unpacked, not read by attribute: a Row's attributes cost several times more.
            "images": [
                {
                    "id": image_id,
                    "url": url,
                    "thumbnail_url": thumbnail_url,
                    "upload": _upload(name, uploader, width, height, size, emails),
                    "status": status,
                    "created_at": created_at,
                    "changed_at": changed_at,
                }
                for (
                    image_id,
                    _,
                    url,
                    thumbnail_url,
                    status,
                    created_at,
                    changed_at,
                    name,
                    uploader,
                    width,
                    height,
                    size,
                ) in view.images
            ],
        }
        for view in page.groups
    ]
    for group in body:
        for image in group["images"]:  # uploaded originals get a browser URL
            image_id, status = image["id"], image["status"]
            if image["url"].startswith(service.STORAGE_SCHEME):
                image["url"] = await browser_url(image["url"], make_url, image_id, status)
            if image["thumbnail_url"]:
                image["thumbnail_url"] = await browser_url(
                    image["thumbnail_url"], make_url, image_id, status
                )
    # Our own rows, in GroupOut's shape (the declared response model, which the tests hold
    # it to), written straight to JSON by pydantic-core: a page can hold thousands of
    # images, and a model per image then a second encoding cost several times more.
    return Response(to_json(body), media_type="application/json", headers=headers)


def actor(user: ModeratorUser) -> service.Actor:
    return service.Actor(user.id, user.email)


async def statistics(session: SessionDep, days: int, by: str) -> Statistics:
    counts = await session.run_sync(service.statistics, days, by)
    return Statistics(**counts)


@router.get("/groups", response_model=list[GroupOut], responses=errors(403))
async def groups(
    request: Request,
    user: ModeratorUser,
    session: SessionDep,
    make_url: UrlMakerDep,
    status: StatusFilter = None,
    sort: service.Sort = service.Sort.CHANGED_AT,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> Response:
    """Groups (newest first) with their images, newest change first."""
    return await groups_response(request, session, make_url, status, sort, limit, cursor)


@router.get("/statistics", response_model=Statistics, responses=errors(403))
async def stats_by_creation(
    user: ModeratorUser, session: SessionDep, days: Days = 30
) -> Statistics:
    """Images created in the last N days, by current status."""
    return await statistics(session, days, "created_at")


@router.post("/images", status_code=201, response_model=list[ImageDetailOut], responses=errors(403))
async def register_images(
    user: ModeratorUser,
    session: SessionDep,
    make_url: UrlMakerDep,
    items: Annotated[NewImagesIn, Body()],
) -> list[ImageDetailOut]:
    """Register images collected elsewhere: one or a list of up to 1,000. Groups are made
    on the fly; sending the same (group, url) again changes nothing."""
    new = [service.NewImage(i.group, str(i.url), i.status, i.created_at) for i in items]
    images = (await session.run_sync(service.register, new)).images
    return [
        ImageDetailOut(
            **await _image_out(image, make_url, session), group_id=image.group_id, group=item.group
        )
        for image, item in zip(images, items, strict=True)
    ]


@router.get("/images/{image_id}", response_model=ImageDetailOut, responses=errors(403, 404))
async def get_image(
    image_id: ImageId, user: ModeratorUser, session: SessionDep, make_url: UrlMakerDep
) -> ImageDetailOut:
    """One image."""
    image, group = await session.run_sync(service.get_image, service.parse_id(image_id))
    fields = await _image_out(image, make_url, session)
    return ImageDetailOut(**fields, group_id=group.id, group=group.name)


@router.put("/images/{image_id}", responses=errors(403, 404))
async def update_status(
    image_id: ImageId, user: ModeratorUser, session: SessionDep, body: Annotated[StatusIn, Body()]
) -> dict[str, str]:
    """Change an image's status: `{status}` -> `{"message": "Image status updated"}`."""
    await session.run_sync(
        service.change_status,
        service.parse_id(image_id),
        service.parse_status(body.status),
        actor(user),
    )
    return {"message": "Image status updated"}


@router.get(
    "/images/{image_id}/history",
    response_model=list[StatusChangeOut],
    responses=errors(403, 404),
)
async def image_history(
    image_id: ImageId, user: ModeratorUser, session: SessionDep
) -> list[StatusChangeOut]:
    """Every status change of an image, oldest first: from, to, who, when."""
    changes = await session.run_sync(service.history, service.parse_id(image_id))
    return [
        StatusChangeOut(
            from_status=c.from_status,
            to_status=c.to_status,
            changed_by=c.changed_by_email,
            changed_at=c.changed_at,
        )
        for c in changes
    ]


@router.get("/files/{key:path}", include_in_schema=False)
async def signed_file(
    request: Request,
    key: str,
    storage: StorageDep,
    services: ServicesDep,
    session: SessionDep,
    expires: int = 0,
    signature: str = "",
    image: int = 0,
) -> Response:
    """An uploaded image behind a signed, expiring link (no token needed), as the board shows
    it; once moderation removed the image, to staff only."""
    problem = verify(key, expires, signature, services.url_signing_key, image=image)
    if problem:
        raise Forbidden(problem, name="Invalid link")
    if not is_plain_key(key):  # we never sign one, but a key is the client's text here
        raise NotFound("No such file", name="File not found")
    status = (await session.run_sync(service.statuses_of, [image])).get(image)
    if service.is_removed(status) and not await caller_is_staff(request, services, session):
        raise NotFound("The image was removed by moderation", name="Removed by moderation")
    # Anyone holding the link may keep the file as long as the link lives.
    kept_for = max(0, expires - int(time.time()))
    return await file_response(request, storage, key, f"public, max-age={kept_for}, immutable")
