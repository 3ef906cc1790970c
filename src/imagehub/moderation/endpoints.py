from typing import Annotated, Any

from fastapi import Body, Query, Request, Response
from fastapi.responses import StreamingResponse
from pydantic_core import to_json

from imagehub.accounts.dependencies import ModeratorUser
from imagehub.accounts.models import User
from imagehub.deps import ServicesDep, SessionDep, StorageDep
from imagehub.errors import Forbidden, InvalidInput, NotFound
from imagehub.moderation import service
from imagehub.moderation.models import Image
from imagehub.moderation.schemas import (
    GroupOut,
    IdStatusIn,
    ImageDetailOut,
    NewImageIn,
    Statistics,
    StatusChangeOut,
    StatusIn,
)
from imagehub.pagination import DEFAULT_LIMIT, MAX_LIMIT
from imagehub.routing import Router
from imagehub.signed_urls import sign, verify
from imagehub.storage import ObjectNotFound

router = Router(tags=["moderation"])
files_router = Router(tags=["files"])

Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT)]
Cursor = Annotated[str | None, Query(max_length=200)]
StatusFilter = Annotated[str | None, Query(description="new, review, accepted or deleted")]
Days = Annotated[str, Query(description="an integer from 1 to 3650")]


def url_maker(request: Request, services: ServicesDep) -> service.UrlMaker:
    """Presigned URLs on S3; on the local folder, URLs signed by this API."""
    storage, secret = services.storage, services.url_signing_key
    lifetime = services.settings.signed_url_minutes * 60
    base = str(request.base_url).rstrip("/")

    async def make(key: str) -> str:
        if storage.presigns:
            return await storage.presigned_url(key, lifetime)
        return base + sign(key, lifetime, secret)

    return make


async def _image_out(image: Image, make_url: service.UrlMaker) -> dict[str, Any]:
    return {
        "id": image.id,
        "url": await service.browser_url(image.url, make_url),
        "status": image.status,
        "created_at": image.created_at,
        "changed_at": image.changed_at,
    }


async def _groups(
    request: Request,
    session: SessionDep,
    services: ServicesDep,
    status: str | None,
    sort: str,
    limit: int,
    cursor: str | None,
) -> Response:
    if sort not in ("changed_at", "created_at"):
        raise InvalidInput("sort: changed_at or created_at", name="Invalid sort")
    page = await service.group_page(
        session,
        status=service.parse_status(status) if status else None,
        sort=sort,
        cursor=cursor,
        limit=limit,
    )
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
                    "status": status,
                    "created_at": created_at,
                    "changed_at": changed_at,
                }
                for image_id, _, url, status, created_at, changed_at in view.images
            ],
        }
        for view in page.groups
    ]
    make_url = url_maker(request, services)
    for group in body:
        for image in group["images"]:  # uploaded originals get a browser URL
            if image["url"].startswith(service.STORAGE_SCHEME):
                image["url"] = await service.browser_url(image["url"], make_url)
    # Our own rows, in GroupOut's shape (the declared response model, which the tests hold
    # it to), written straight to JSON by pydantic-core: a page can hold thousands of
    # images, and a model per image then a second encoding cost several times more.
    return Response(to_json(body), media_type="application/json", headers=headers)


@router.get("/groups", response_model=list[GroupOut])
async def groups(
    request: Request,
    user: ModeratorUser,
    session: SessionDep,
    services: ServicesDep,
    status: StatusFilter = None,
    sort: str = "changed_at",
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> Response:
    """Groups (newest first) with their images, newest change first (seed 001)."""
    return await _groups(request, session, services, status, sort, limit, cursor)


@router.get("/images/groups/", response_model=list[GroupOut])
async def image_groups(
    request: Request,
    user: ModeratorUser,
    session: SessionDep,
    services: ServicesDep,
    status: StatusFilter = None,
    sort: str = "created_at",
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> Response:
    """Groups (newest first) with their images, newest first (seed 000)."""
    return await _groups(request, session, services, status, sort, limit, cursor)


def _actor(user: User) -> service.Actor:
    return service.Actor(user.id, user.email)


@router.put("/images/")
async def update_status_by_body(
    user: ModeratorUser, session: SessionDep, body: Annotated[IdStatusIn, Body()]
) -> Response:
    """Change an image's status: `{id, status}` -> 204 (seed 000)."""
    image_id = service.parse_id(body.id)
    await service.change_status(session, image_id, service.parse_status(body.status), _actor(user))
    return Response(status_code=204)


@router.get("/images/stats/", response_model=Statistics)
async def stats_by_change(
    user: ModeratorUser, session: SessionDep, days: Days = "30"
) -> Statistics:
    """Images whose status changed in the last N days, by status (seed 000)."""
    counts = await service.statistics(session, service.parse_days(days), "changed_at")
    return Statistics(**counts)


@router.get("/statistics", response_model=Statistics)
async def stats_by_creation(
    user: ModeratorUser, session: SessionDep, days: Days = "30"
) -> Statistics:
    """Images created in the last N days, by current status (seed 001)."""
    counts = await service.statistics(session, service.parse_days(days), "created_at")
    return Statistics(**counts)


@router.post("/images", status_code=201, response_model=list[ImageDetailOut])
async def register_images(
    request: Request,
    user: ModeratorUser,
    session: SessionDep,
    services: ServicesDep,
    body: Annotated[NewImageIn | list[NewImageIn], Body()],
) -> list[ImageDetailOut]:
    """Register images collected elsewhere: one or a list of up to 1,000. Groups are made
    on the fly; sending the same (group, url) again changes nothing."""
    items = body if isinstance(body, list) else [body]
    images = await service.register(
        session,
        [service.NewImage(i.group, str(i.url), i.status, i.created_at) for i in items],
    )
    make_url = url_maker(request, services)
    return [
        ImageDetailOut(
            **await _image_out(image, make_url), group_id=image.group_id, group=item.group
        )
        for image, item in zip(images, items, strict=True)
    ]


@router.get("/images/{image_id}", response_model=ImageDetailOut)
async def get_image(
    image_id: str, request: Request, user: ModeratorUser, session: SessionDep, services: ServicesDep
) -> ImageDetailOut:
    """One image."""
    image, group = await service.get_image(session, service.parse_id(image_id))
    fields = await _image_out(image, url_maker(request, services))
    return ImageDetailOut(**fields, group_id=group.id, group=group.name)


@router.put("/images/{image_id}")
async def update_status(
    image_id: str, user: ModeratorUser, session: SessionDep, body: Annotated[StatusIn, Body()]
) -> dict[str, str]:
    """Change an image's status: `{status}` -> `{"message": "Image status updated"}` (seed 001)."""
    parsed = service.parse_id(image_id)
    await service.change_status(session, parsed, service.parse_status(body.status), _actor(user))
    return {"message": "Image status updated"}


@router.get("/images/{image_id}/history", response_model=list[StatusChangeOut])
async def image_history(
    image_id: str, user: ModeratorUser, session: SessionDep
) -> list[StatusChangeOut]:
    """Every status change of an image, oldest first: from, to, who, when."""
    changes = await service.history(session, service.parse_id(image_id))
    return [
        StatusChangeOut(
            from_status=c.from_status,
            to_status=c.to_status,
            changed_by=c.changed_by_email,
            changed_at=c.changed_at,
        )
        for c in changes
    ]


@files_router.get("/files/{key:path}", include_in_schema=False)
async def signed_file(
    key: str, storage: StorageDep, services: ServicesDep, expires: int = 0, signature: str = ""
) -> StreamingResponse:
    """An object of the local folder behind a signed, expiring link (no token needed)."""
    problem = verify(key, expires, signature, services.url_signing_key)
    if problem:
        raise Forbidden(problem, name="Invalid link")
    try:
        size = await storage.size(key)
    except ObjectNotFound as error:
        raise NotFound("No such file", name="File not found") from error
    media = "image/png" if key.lower().endswith(".png") else "image/jpeg"
    return StreamingResponse(
        storage.stream(key),
        media_type=media,
        headers={"Content-Length": str(size), "Cache-Control": "private, max-age=300"},
    )
