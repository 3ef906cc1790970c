"""The `/images/` family of the moderation API: the same operations for clients that
address everything under `/images/`. Groups at `/images/groups/` (images newest first by
creation), a status change as `PUT /images/` with the id in the body (answering 204),
statistics by last change at `/images/stats/`. Thin handlers over the shared pieces of
`endpoints.py`; the app mounts these first, so `/images/groups/` and `/images/stats/` are not
read as `/images/{id}`.
"""

from typing import Annotated

from fastapi import Body, Request, Response

from imagehub.accounts.dependencies import ModeratorUser
from imagehub.core.pagination import DEFAULT_LIMIT
from imagehub.http.deps import SessionDep
from imagehub.http.files import UrlMakerDep
from imagehub.http.openapi import errors
from imagehub.http.params import Cursor, Limit
from imagehub.http.routing import Router
from imagehub.moderation import service
from imagehub.moderation.endpoints import Days, StatusFilter, actor, groups_response, statistics
from imagehub.moderation.schemas import (
    DailyOut,
    DayOut,
    GroupOut,
    IdsStatusIn,
    IdStatusIn,
    Statistics,
    UpdatedOut,
)

router = Router(tags=["moderation"])


@router.get("/images/groups/", response_model=list[GroupOut], responses=errors(403))
async def image_groups(
    request: Request,
    user: ModeratorUser,
    session: SessionDep,
    make_url: UrlMakerDep,
    status: StatusFilter = None,
    sort: service.Sort = service.Sort.CREATED_AT,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> Response:
    """Groups (newest first) with their images, newest first."""
    return await groups_response(request, session, make_url, status, sort, limit, cursor)


@router.put("/images/", status_code=204, responses=errors(403, 404))
async def update_status_by_body(
    user: ModeratorUser, session: SessionDep, body: Annotated[IdStatusIn, Body()]
) -> Response:
    """Change an image's status: `{id, status}` -> 204."""
    await session.run_sync(
        service.change_status,
        service.parse_id(body.id),
        service.parse_status(body.status),
        actor(user),
    )
    return Response(status_code=204)


@router.put("/images/status", response_model=UpdatedOut, responses=errors(403, 404))
async def update_statuses(
    user: ModeratorUser, session: SessionDep, body: Annotated[IdsStatusIn, Body()]
) -> UpdatedOut:
    """Change the status of up to 500 images at once: `{ids, status}` -> `{updated}`. One
    transaction, each change recorded; an unknown or malformed id (named in the error, and
    in its `ids`) refuses them all."""
    updated = await session.run_sync(
        service.change_statuses, body.ids, service.parse_status(body.status), actor(user)
    )
    return UpdatedOut(updated=updated)


@router.get("/images/stats/daily", response_model=DailyOut, responses=errors(403))
async def stats_daily(user: ModeratorUser, session: SessionDep, days: Days = 30) -> DailyOut:
    """Per UTC day of the last N: images created, images changed, by status; and the
    backlog now. Read from the per-day counts kept beside the images."""
    trend = await session.run_sync(service.daily, days)
    return DailyOut(
        days=[
            DayOut(date=d.day, created=Statistics(**d.created), changed=Statistics(**d.changed))
            for d in trend.days
        ],
        backlog=trend.backlog,
    )


@router.get("/images/stats/", response_model=Statistics, responses=errors(403))
async def stats_by_change(user: ModeratorUser, session: SessionDep, days: Days = 30) -> Statistics:
    """Images whose status changed in the last N days, by status."""
    return await statistics(session, days, "changed_at")
