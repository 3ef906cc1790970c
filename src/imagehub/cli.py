"""The `imagehub` command: run the service (all-in-one or per process) and administer it."""

from __future__ import annotations

import getpass
import os
import sys
import tempfile
from collections.abc import Awaitable, Callable
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn, TypeVar

import typer
import uvicorn
from pydantic import ValidationError
from rich.console import Console
from sqlalchemy.ext.asyncio import AsyncSession

from imagehub import __version__, migrate
from imagehub.accounts import service as accounts
from imagehub.accounts.models import Role
from imagehub.accounts.schemas import RegistrationIn
from imagehub.config import ConfigurationError, Settings, ensure_embedded_secret
from imagehub.db import run_in_async_session
from imagehub.errors import AppError
from imagehub.logs import configure_logging

if TYPE_CHECKING:
    from imagehub.repostats.service import ScanReport

app = typer.Typer(
    help="imagehub: a self-hosted image service.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
user_app = typer.Typer(help="Manage accounts.", no_args_is_help=True)
app.add_typer(user_app, name="user")
moderation_app = typer.Typer(help="Moderation queue.", no_args_is_help=True)
app.add_typer(moderation_app, name="moderation")
github_app = typer.Typer(help="GitHub repository stats.", no_args_is_help=True)
app.add_typer(github_app, name="github")
console = Console(stderr=True)

T = TypeVar("T")


def _settings() -> Settings:
    try:
        return Settings()
    except ValidationError as error:
        _fail(f"invalid settings:\n{error}")


def _fail(message: str, code: int = 1) -> NoReturn:
    console.print(f"[red]error:[/red] {message}")
    raise typer.Exit(code)


def _migrated_settings() -> Settings:
    """Settings for an administration command, which needs an up-to-date schema."""
    settings = _settings()
    if not migrate.is_up_to_date(settings.effective_database_url):
        _fail("the database is not migrated: run `imagehub migrate` first")
    return settings


def _production_settings(**overrides: object) -> Settings:
    settings = _settings().model_copy(update=overrides)
    try:
        settings.check_production_ready()
    except ConfigurationError as error:
        _fail(str(error))
    if not settings.broker_url:  # api, worker and beat all talk to the broker
        _fail("IMAGEHUB_BROKER_URL is not set (only `imagehub serve` embeds a broker)")
    configure_logging(settings.log_level, settings.log_format)
    return settings


Host = Annotated[str | None, typer.Option(help="Address to listen on [IMAGEHUB_HOST]")]
Port = Annotated[int | None, typer.Option(help="Port to listen on [IMAGEHUB_PORT]")]


@app.command()
def version() -> None:
    """Print the version."""
    print(__version__)


@app.command("migrate")
def migrate_command() -> None:
    """Bring the database schema up to date."""
    settings = _settings()
    configure_logging(settings.log_level, settings.log_format)
    migrate.upgrade(settings.effective_database_url)
    console.print("database is up to date")


@app.command()
def serve(
    host: Host = None,
    port: Port = None,
    concurrency: Annotated[int | None, typer.Option(help="worker processes")] = None,
) -> None:
    """Run everything in one command: API, worker, scheduler (and a broker if none is set).

    Defaults need nothing installed: SQLite and objects in the data folder, an embedded
    Redis as the broker, a secret generated once and kept in the data folder.
    """
    from imagehub.embedded import EmbeddedRedis, Supervisor
    from imagehub.main import create_app

    settings = _settings()
    settings = settings.model_copy(
        update={"host": host or settings.host, "port": port or settings.port}
    )
    configure_logging(settings.log_level, settings.log_format)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    settings = ensure_embedded_secret(settings)
    migrate.upgrade(settings.effective_database_url)

    with ExitStack() as stack:
        if settings.uses_embedded_broker:
            broker = EmbeddedRedis(settings.data_dir)
            stack.callback(broker.stop)
            settings = settings.model_copy(update={"broker_url": broker.start()})
        child_env = {
            **os.environ,
            "IMAGEHUB_DATA_DIR": str(settings.data_dir),
            "IMAGEHUB_BROKER_URL": settings.broker_url or "",
            "IMAGEHUB_SECRET_KEY": settings.signing_secret(),
        }
        supervisor = Supervisor()
        stack.callback(supervisor.stop_all)
        workers = concurrency or settings.worker_concurrency
        me = [sys.executable, "-m", "imagehub"]
        supervisor.start("worker", [*me, "worker", f"--concurrency={workers}"], child_env)
        supervisor.start("beat", [*me, "beat"], child_env)
        supervisor.watch()
        url = f"http://{settings.host}:{settings.port}"
        console.print(
            f"[bold green]imagehub {__version__}[/bold green] is running at [bold]{url}[/bold]"
            f" (API docs: {url}/docs); data in {settings.data_dir}. Ctrl-C stops it."
        )
        uvicorn.run(
            create_app(settings),
            host=settings.host,
            port=settings.port,
            log_config=None,
            proxy_headers=True,
            forwarded_allow_ips=settings.forwarded_allow_ips,
        )


@app.command()
def api(
    host: Host = None,
    port: Port = None,
    workers: Annotated[
        int | None, typer.Option(help="API processes [IMAGEHUB_API_WORKERS]")
    ] = None,
) -> None:
    """Run the HTTP API (production: needs IMAGEHUB_SECRET_KEY and a broker)."""
    settings = _production_settings()
    processes = workers or settings.api_workers
    if processes > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # Several processes share /metrics through files in one folder.
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="imagehub-metrics-")
    uvicorn.run(
        "imagehub.main:create_app",
        factory=True,
        host=host or settings.host,
        port=port or settings.port,
        workers=processes,
        log_config=None,
        proxy_headers=True,
        forwarded_allow_ips=settings.forwarded_allow_ips,
    )


@app.command()
def worker(
    concurrency: Annotated[
        int | None, typer.Option(help="processes [IMAGEHUB_WORKER_CONCURRENCY]")
    ] = None,
) -> None:
    """Run a Celery worker (prefork pool, late acks)."""
    from imagehub.worker import run_worker

    settings = _production_settings()
    run_worker(settings, concurrency or settings.worker_concurrency)


@app.command()
def beat() -> None:
    """Run the scheduler (exactly one per deployment)."""
    from imagehub.worker import run_beat

    settings = _production_settings()
    run_beat(settings)


# --- Accounts ---------------------------------------------------------------------------


def _run_with_session(action: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Run an accounts service call in its own transaction, on the configured database."""
    settings = _migrated_settings()
    try:
        return run_in_async_session(settings.effective_database_url, action)
    except AppError as error:
        _fail(error.description)


def _ask_password() -> str:
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass("Password: ")
    if first != getpass.getpass("Repeat the password: "):
        _fail("the passwords differ")
    return first


@user_app.command("create")
def user_create(
    email: str,
    role: Annotated[Role, typer.Option(help="user, moderator or admin")] = Role.USER,
    first_name: Annotated[str | None, typer.Option()] = None,
    last_name: Annotated[str | None, typer.Option()] = None,
) -> None:
    """Create an account; the password is prompted for (or read from standard input)."""
    password = os.environ.get("IMAGEHUB_NEW_USER_PASSWORD") or _ask_password()
    try:
        valid = RegistrationIn(
            email=email, password=password, first_name=first_name, last_name=last_name
        )
    except ValidationError as error:
        _fail("; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors()))
    user = _run_with_session(
        lambda session: accounts.register(
            session,
            email=valid.email,
            password=valid.password,
            first_name=valid.first_name,
            last_name=valid.last_name,
            role=role,
        )
    )
    console.print(f"created {user.email} ({user.role}), id {user.id}")


@user_app.command("promote")
def user_promote(
    email: str,
    role: Annotated[Role, typer.Option(help="user, moderator or admin")],
) -> None:
    """Give an account another role (takes effect on its next request)."""
    user = _run_with_session(lambda session: accounts.change_role(session, email, role))
    console.print(f"{user.email} is now {user.role}")


@user_app.command("delete")
def user_delete(
    email: str,
    yes: Annotated[bool, typer.Option("--yes", help="do not ask for confirmation")] = False,
) -> None:
    """Delete an account; its tokens stop working at once."""
    if not yes:
        typer.confirm(f"Delete {email}?", abort=True)
    _run_with_session(lambda session: accounts.delete(session, email))
    console.print(f"deleted {email}")


# --- Moderation -------------------------------------------------------------------------

IMPORT_BATCH = 1000


@moderation_app.command("import")
def moderation_import(
    path: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
) -> None:
    """Load images from a JSON-lines file: one `{group, url, status?, created_at?}` per line.

    Safe to run again on the same file: an image is known by its URL within its group.
    Lines that are not valid are listed and skipped; the exit code is then 1.
    """
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    from imagehub.moderation import service as moderation
    from imagehub.moderation.schemas import NewImageIn

    settings = _migrated_settings()
    problems: list[str] = []
    imported = 0

    def flush(batch: list[moderation.NewImage]) -> None:
        nonlocal imported
        if batch:
            run_in_async_session(
                settings.effective_database_url,
                lambda session: moderation.register(session, batch),
            )
            imported += len(batch)
            batch.clear()

    columns = (TextColumn("importing"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"))
    with (
        Progress(*columns, TimeRemainingColumn(), console=console) as progress,
        path.open("rb") as file,
    ):
        bar = progress.add_task("import", total=path.stat().st_size)
        batch: list[moderation.NewImage] = []
        for number, raw in enumerate(file, start=1):
            progress.advance(bar, len(raw))
            if not raw.strip():
                continue
            try:
                item = NewImageIn.model_validate_json(raw)
            except ValidationError as error:
                problems.append(f"line {number}: {error.errors()[0]['msg']}")
                continue
            batch.append(
                moderation.NewImage(item.group, str(item.url), item.status, item.created_at)
            )
            if len(batch) >= IMPORT_BATCH:
                flush(batch)
        flush(batch)
    for problem in problems[:20]:
        console.print(f"[yellow]skipped[/yellow] {problem}")
    if len(problems) > 20:
        console.print(f"... and {len(problems) - 20} more")
    console.print(f"{imported} line(s) imported (known images are left as they are)")
    if problems:
        raise typer.Exit(1)


@moderation_app.command("recount")
def moderation_recount() -> None:
    """Rebuild the per-day counts behind the statistics from the images (after loading
    images into the database by other means than the API or `import`)."""
    from imagehub.db import create_sync_engine, sync_session_scope, sync_sessionmaker_for
    from imagehub.moderation import service as moderation

    settings = _settings()
    engine = create_sync_engine(settings.effective_database_url)
    try:
        with sync_session_scope(sync_sessionmaker_for(engine)) as session:
            moderation.recount(session)
    finally:
        engine.dispose()
    console.print("statistics counts rebuilt")


# --- GitHub repository stats ------------------------------------------------------------


@github_app.command("add")
def github_add(login: str) -> None:
    """Track a GitHub user (looked up on GitHub) and scan them at once."""
    from imagehub.repostats import service as repostats
    from imagehub.repostats.github import GitHub, GitHubError
    from imagehub.repostats.tasks import run_scan

    settings = _migrated_settings()

    async def track(session: AsyncSession) -> tuple[int, str]:
        async with GitHub(settings) as github:
            user = await repostats.track(session, github, login)
        return user.id, user.login

    try:
        user_id, found = run_in_async_session(settings.effective_database_url, track)
    except (AppError, GitHubError) as error:
        _fail(str(error))
    console.print(f"tracking {found} (id {user_id}); scanning...")
    report = run_scan(settings, due_now=False, user_ids=[user_id])
    _print_scan(report)


@github_app.command("scan")
def github_scan(
    all_users: Annotated[
        bool, typer.Option("--all", help="every user, even those scanned today")
    ] = False,
) -> None:
    """Scan the tracked users whose daily scan is due (or all of them) now."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from imagehub.repostats.tasks import run_scan

    settings = _migrated_settings()
    columns = (TextColumn("scanning"), BarColumn(), MofNCompleteColumn())
    with Progress(*columns, console=console) as progress:
        bar = progress.add_task("scan", total=None)

        def advance(done: int, total: int) -> None:
            progress.update(bar, completed=done, total=total)

        report = run_scan(settings, due_now=not all_users, on_progress=advance)
    _print_scan(report)
    if report.failed or report.rate_limited_until:
        raise typer.Exit(1)


def _print_scan(report: ScanReport) -> None:
    console.print(
        f"{report.scanned} user(s) scanned, {report.repositories} repositories; "
        f"{report.requests} request(s) to GitHub, {report.not_modified} answered 304"
    )
    for failure in report.failed:
        console.print(f"[yellow]failed[/yellow] {failure} (tried again on the next scan)")
    if report.rate_limited_until:
        console.print(
            f"[yellow]rate limit[/yellow] spent until {report.rate_limited_until.isoformat()}; "
            f"{report.deferred} user(s) left for beat to finish after it"
        )
