"""The `imagehub` command: run the service (all-in-one or per process) and administer it.

The processes are started here; each domain's administration commands live in its own
`cli.py` and are gathered below.
"""

from __future__ import annotations

import os
import sys
import tempfile
from contextlib import ExitStack
from typing import Annotated

import typer
import uvicorn

from imagehub import __version__
from imagehub.accounts.cli import app as user_app
from imagehub.core import migrate
from imagehub.core.commands import console, fail, load_settings
from imagehub.core.config import ConfigurationError, Settings, ensure_embedded_secret
from imagehub.core.logs import configure_logging
from imagehub.moderation.cli import app as moderation_app
from imagehub.repostats.cli import app as github_app

app = typer.Typer(
    help="imagehub: a self-hosted image service.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)


def _print_version(asked: bool) -> None:
    if asked:
        print(__version__)
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", is_eager=True, callback=_print_version, help="Print the version."
        ),
    ] = False,
) -> None:
    """imagehub: a self-hosted image service."""


app.add_typer(user_app, name="user")
app.add_typer(moderation_app, name="moderation")
app.add_typer(github_app, name="github")


def _production_settings(**overrides: object) -> Settings:
    settings = load_settings().model_copy(update=overrides)
    try:
        settings.check_production_ready()
    except ConfigurationError as error:
        fail(str(error))
    if not settings.broker_url:  # api, worker and beat all talk to the broker
        fail("IMAGEHUB_BROKER_URL is not set (only `imagehub serve` embeds a broker)")
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
    settings = load_settings()
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
    from imagehub.run.api import create_app
    from imagehub.run.embedded import EmbeddedRedis, Supervisor

    settings = load_settings()
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
        "imagehub.run.api:create_app",
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
    from imagehub.run.worker import run_worker

    settings = _production_settings()
    run_worker(settings, concurrency or settings.worker_concurrency)


@app.command()
def beat() -> None:
    """Run the scheduler (exactly one per deployment)."""
    from imagehub.run.worker import run_beat

    settings = _production_settings()
    run_beat(settings)
