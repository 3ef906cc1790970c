"""Repo stats routes: tracking is admin work, reading needs a login."""

import csv
import io
from datetime import date
from typing import Annotated, Literal

from fastapi import Query, Request, Response

from imagehub.accounts.dependencies import AdminUser, CurrentUser
from imagehub.core.db import after_commit, utcnow
from imagehub.core.fields import Id
from imagehub.core.jobs import celery_app
from imagehub.http.deps import ServicesDep, SessionDep
from imagehub.http.openapi import errors
from imagehub.http.routing import Router
from imagehub.repostats import service
from imagehub.repostats.github import GitHub
from imagehub.repostats.models import GithubUser
from imagehub.repostats.schemas import (
    GithubUserDetailOut,
    GithubUserOut,
    HistoryOut,
    HistoryStatOut,
    RepoOut,
    ScanAccepted,
    StatOut,
    StatsOut,
    StatsUserOut,
    StatsWithHistoryOut,
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


@router.get("/users/{user_id}", response_model=GithubUserDetailOut, responses=errors(404))
async def get_user(user_id: Id, _: CurrentUser, session: SessionDep) -> GithubUserDetailOut:
    """A tracked user, with how far their repositories' history has been reconstructed."""
    user = await service.get_user(session, user_id)
    progress = await service.history_progress(session, user)
    return GithubUserDetailOut.model_validate(
        {
            **GithubUserOut.model_validate(user).model_dump(),
            "history": HistoryOut(
                state=progress.state,
                repositories=progress.repositories,
                finished=progress.finished,
            ),
        }
    )


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


Include = Annotated[
    Literal["history"] | None,
    Query(description="history: the days before tracking too, reconstructed, each row "
          "with its source"),
]  # fmt: skip
DateFrom = Annotated[date | None, Query(description="YYYY-MM-DD, inclusive")]
DateTo = Annotated[date | None, Query(description="YYYY-MM-DD, inclusive")]
CSV_COLUMNS = ["repo_id", "date", "stargazers", "forks", "watchers"]
# Both stats routes: a 404 for an unknown user, and CSV as well as JSON.
STATS_RESPONSES = {**errors(404), 200: {"content": {"text/csv": {"schema": {"type": "string"}}}}}


@router.get(
    "/users/{user_id}/stats",
    response_model=StatsOut | StatsWithHistoryOut,
    responses=STATS_RESPONSES,
)
async def user_stats(
    request: Request,
    user_id: Id,
    _: CurrentUser,
    session: SessionDep,
    services: ServicesDep,
    date_from: DateFrom = None,
    date_to: DateTo = None,
    include: Include = None,
) -> StatsOut | StatsWithHistoryOut | Response:
    """Stars, forks and watchers per repository per day (default: the last 30 days),
    ordered by repo_id then date; CSV with `Accept: text/csv`."""
    if _wants_csv(request):
        return await _stats_csv(session, services, user_id, date_from, date_to, include)
    with_history = include == "history"
    user, rows = await _stats_rows(session, services, user_id, date_from, date_to, with_history)
    user_out = StatsUserOut(id=user.id, login=user.login, name=user.name)
    if with_history:
        stats = [HistoryStatOut.model_validate({**_fields(r), "source": r.source}) for r in rows]
        return StatsWithHistoryOut(user=user_out, stats=stats)
    return StatsOut(user=user_out, stats=[StatOut.model_validate(_fields(r)) for r in rows])


def _fields(row: service.StatsRow) -> dict[str, object]:
    return {
        "repo_id": row.repo_id,
        "date": row.day,
        "stargazers": row.stargazers,
        "forks": row.forks,
        "watchers": row.watchers,
    }


@router.get(
    "/users/{user_id}/stats.csv",
    response_class=Response,
    responses=STATS_RESPONSES,
)
async def user_stats_csv(
    user_id: Id,
    _: CurrentUser,
    session: SessionDep,
    services: ServicesDep,
    date_from: DateFrom = None,
    date_to: DateTo = None,
    include: Include = None,
) -> Response:
    """The rows of `/stats` as CSV (a `source` column with `include=history`; an empty
    watchers cell where the number is unknown)."""
    return await _stats_csv(session, services, user_id, date_from, date_to, include)


def _wants_csv(request: Request) -> bool:
    accept = request.headers.get("accept", "")
    return "text/csv" in accept and "application/json" not in accept


async def _stats_rows(
    session: SessionDep,
    services: ServicesDep,
    user_id: int,
    date_from: date | None,
    date_to: date | None,
    with_history: bool,
) -> tuple[GithubUser, list[service.StatsRow]]:
    start, end = service.date_range(
        date_from, date_to, services.settings.github_stats_max_days, service.utc_today()
    )
    return await service.stats_rows(session, user_id, start, end, with_history=with_history)


async def _stats_csv(
    session: SessionDep,
    services: ServicesDep,
    user_id: int,
    date_from: date | None,
    date_to: date | None,
    include: str | None,
) -> Response:
    with_history = include == "history"
    user, rows = await _stats_rows(session, services, user_id, date_from, date_to, with_history)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS + (["source"] if with_history else []))
    for row in rows:
        cells = [row.repo_id, row.day.isoformat(), row.stargazers, row.forks, row.watchers]
        writer.writerow(
            ["" if cell is None else cell for cell in cells]
            + ([row.source] if with_history else [])
        )
    filename = f"stats-{user.login}.csv"
    return Response(
        out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@router.post("/scan", status_code=202, response_model=ScanAccepted, responses=errors(403))
async def scan_now(_: AdminUser, session: SessionDep) -> ScanAccepted:
    """Scan every tracked user now (a worker does it); today's rows are updated."""
    after_commit(session, lambda: _send_scan(None))
    return ScanAccepted(message="Scan queued", queued_at=utcnow())
