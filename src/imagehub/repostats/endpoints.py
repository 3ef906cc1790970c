"""Repo stats routes: tracking is admin work, reading needs a login."""

from datetime import date
from typing import Annotated

from fastapi import Query, Response

from imagehub.accounts.dependencies import AdminUser, CurrentUser
from imagehub.core.db import after_commit, utcnow
from imagehub.core.fields import Id
from imagehub.core.jobs import celery_app
from imagehub.http.deps import ServicesDep, SessionDep
from imagehub.http.openapi import errors
from imagehub.http.routing import Router
from imagehub.repostats import service
from imagehub.repostats.github import GitHub
from imagehub.repostats.schemas import (
    GithubUserOut,
    RepoOut,
    ScanAccepted,
    StatOut,
    StatsOut,
    StatsUserOut,
    TrackIn,
)

router = Router(prefix="/v1", tags=["repo stats"])


def _send_scan(user_ids: list[int] | None) -> None:
    celery_app.send_task(service.SCAN_USERS, args=[user_ids])


@router.post(
    "/users", status_code=201, response_model=GithubUserOut, responses=errors(403, 404, 409)
)
async def track_user(
    body: TrackIn, _: AdminUser, session: SessionDep, services: ServicesDep
) -> GithubUserOut:
    """Start tracking a GitHub user (looked up on GitHub); the first scan is queued at once."""
    async with GitHub(services.settings) as github:
        user = await service.track(session, github, body.login)
    after_commit(session, lambda: _send_scan([user.id]))
    return GithubUserOut.model_validate(user)


@router.get("/users", response_model=list[GithubUserOut])
async def list_users(_: CurrentUser, session: SessionDep) -> list[GithubUserOut]:
    return [GithubUserOut.model_validate(u) for u in await service.list_users(session)]


@router.get("/users/{user_id}", response_model=GithubUserOut, responses=errors(404))
async def get_user(user_id: Id, _: CurrentUser, session: SessionDep) -> GithubUserOut:
    return GithubUserOut.model_validate(await service.get_user(session, user_id))


@router.delete("/users/{user_id}", status_code=204, responses=errors(403, 404))
async def untrack_user(user_id: Id, _: AdminUser, session: SessionDep) -> Response:
    """Stop tracking; the user's repositories and stats go too."""
    await service.untrack(session, user_id)
    return Response(status_code=204)


@router.get("/users/{user_id}/repos", response_model=list[RepoOut], responses=errors(404))
async def user_repos(user_id: Id, _: CurrentUser, session: SessionDep) -> list[RepoOut]:
    """The user's repositories with their latest counts, by name: what the stats' repo_id
    values stand for."""
    repos = await service.repos(session, user_id)
    return [RepoOut.model_validate(repo) for repo in repos]


@router.get("/users/{user_id}/stats", response_model=StatsOut, responses=errors(404))
async def user_stats(
    user_id: Id,
    _: CurrentUser,
    session: SessionDep,
    services: ServicesDep,
    date_from: Annotated[date | None, Query(description="YYYY-MM-DD, inclusive")] = None,
    date_to: Annotated[date | None, Query(description="YYYY-MM-DD, inclusive")] = None,
) -> StatsOut:
    """Stars, forks and watchers per repository per day (default: the last 30 days),
    ordered by repo_id then date."""
    start, end = service.date_range(
        date_from, date_to, services.settings.github_stats_max_days, service.utc_today()
    )
    user, rows = await service.stats(session, user_id, start, end)
    return StatsOut(
        user=StatsUserOut(id=user.id, login=user.login, name=user.name),
        stats=[
            StatOut(
                repo_id=row.repo_id,
                date=row.date,
                stargazers=row.stargazers,
                forks=row.forks,
                watchers=row.watchers,
            )
            for row in rows
        ],
    )


@router.post("/scan", status_code=202, response_model=ScanAccepted, responses=errors(403))
async def scan_now(_: AdminUser, session: SessionDep) -> ScanAccepted:
    """Scan every tracked user now (a worker does it); today's rows are updated."""
    after_commit(session, lambda: _send_scan(None))
    return ScanAccepted(message="Scan queued", queued_at=utcnow())
