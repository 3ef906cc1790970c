"""`imagehub github ...`: track a GitHub user or organization, scan tracked users now,
reconstruct their history."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from imagehub.core.commands import console, fail, migrated_settings
from imagehub.core.config import Settings
from imagehub.core.db import AsyncDatabase, run_async
from imagehub.core.errors import AppError
from imagehub.repostats import service
from imagehub.repostats.backfill import BackfillReport, run_backfill
from imagehub.repostats.github import GitHub, GitHubError
from imagehub.repostats.scan import ScanReport, run_scan

app = typer.Typer(help="GitHub repository stats.", no_args_is_help=True)


@app.command("add")
def add(login: str) -> None:
    """Track a GitHub user (looked up on GitHub) and scan them at once."""
    settings = migrated_settings()

    async def track(database: AsyncDatabase) -> tuple[int, str]:
        async with GitHub(settings) as github, database.transaction() as session:
            user = await service.track(session, github, login)
            return user.id, user.login

    try:
        user_id, found = run_async(settings.effective_database_url, track)
    except (AppError, GitHubError) as error:
        fail(str(error))
    console.print(f"tracking {found} (id {user_id}); scanning...")
    _print(run_scan(settings, due_now=False, user_ids=[user_id]))


@app.command("scan")
def scan(
    due: Annotated[
        bool,
        typer.Option(
            "--due",
            help="only the users whose scan for today is not done yet (as beat does), "
            "leaving those waiting for a retry time alone",
        ),
    ] = False,
    _all_users: Annotated[
        bool, typer.Option("--all", hidden=True, help="every user (the default now)")
    ] = False,
) -> None:
    """Scan every tracked user now (or, with --due, only those not done today)."""
    settings = migrated_settings()
    with _progress_bar("scanning") as advance:
        report = run_scan(settings, due_now=due, on_progress=advance)
    _print(report)
    if report.failed or report.rate_limited_until:
        raise typer.Exit(1)


@app.command("backfill")
def backfill(
    login: Annotated[str | None, typer.Argument(help="a tracked user's login")] = None,
    all_users: Annotated[bool, typer.Option("--all", help="every tracked user")] = False,
) -> None:
    """Reconstruct the history (stars and forks by day, back to the first) of a tracked
    user's repositories, or everyone's: what is left of it, now, whatever the daily scan."""
    if (login is not None) == all_users:
        fail("name one tracked user's login, or --all")
    settings = migrated_settings()
    user_ids = None if all_users else [_tracked_id(settings, login or "")]
    with _progress_bar("reading history") as advance:
        report = run_backfill(settings, user_ids=user_ids, behind_scan=False, on_progress=advance)
    _print_backfill(report)
    if report.failed or report.stopped:
        raise typer.Exit(1)


@contextmanager
def _progress_bar(label: str) -> Iterator[Callable[[int, int], None]]:
    """A bar that the work moves on: `advance(done, total)`."""
    columns = (TextColumn(label), BarColumn(), MofNCompleteColumn())
    with Progress(*columns, console=console) as progress:
        bar = progress.add_task(label, total=None)

        def advance(done: int, total: int) -> None:
            progress.update(bar, completed=done, total=total)

        yield advance


def _tracked_id(settings: Settings, login: str) -> int:
    async def find(database: AsyncDatabase) -> int | None:
        async with database.transaction() as session:
            return await service.tracked_id(session, login)

    user_id = run_async(settings.effective_database_url, find)
    if user_id is None:
        fail(f"{login} is not tracked (imagehub github add {login})")
    return user_id


def _print_backfill(report: BackfillReport) -> None:
    console.print(
        f"{report.finished} of {report.reads} read(s) of stars or forks finished; "
        f"{report.pages} page(s), {report.requests} request(s) to GitHub"
    )
    for failure in report.failed:
        console.print(f"[yellow]failed[/yellow] {failure} (tried again on the next run)")
    if report.stopped:
        until = (
            f" until {report.rate_limited_until.isoformat()}" if report.rate_limited_until else ""
        )
        console.print(
            f"[yellow]stopped[/yellow] ({report.stopped}{until}): what was read is kept; "
            "run it again, or beat goes on from there"
        )


def _print(report: ScanReport) -> None:
    console.print(
        f"{report.scanned} user(s) scanned, {report.repositories} repositories read; "
        f"{report.requests} request(s) to GitHub, {report.not_modified} answered 304"
    )
    for failure in report.failed:
        console.print(f"[yellow]failed[/yellow] {failure} (tried again on the next scan)")
    if report.rate_limited_until:
        console.print(
            f"[yellow]rate limit[/yellow] spent until {report.rate_limited_until.isoformat()}; "
            f"{report.deferred} user(s) left for beat to finish after it (what was read is kept)"
        )
