"""The `imagehub` command: run the service (all-in-one or per process) and administer it.

The processes are started here; each domain's administration commands live in its own
`cli.py` and are gathered below.
"""

from __future__ import annotations

import os
import shutil
import socket
import sys
import tempfile
import time
from contextlib import ExitStack
from typing import Annotated

import httpx
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
from imagehub.run.program import OWN_METRICS_FOLDER

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


health_app = typer.Typer(
    help="Health checks of this container's process, for Docker's HEALTHCHECK (exit 0 or 1).",
    no_args_is_help=True,
)
app.add_typer(health_app, name="health")
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


def _own_metrics_folder() -> str | None:
    """The metrics folder `imagehub.run.program` made for this command, to remove at exit
    (taken out of the environment, so the children do not remove it too)."""
    return os.environ.pop(OWN_METRICS_FOLDER, None)


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
    own_metrics_folder = _own_metrics_folder()
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
        if own_metrics_folder:
            stack.callback(shutil.rmtree, own_metrics_folder, ignore_errors=True)
        embedded_broker = settings.uses_embedded_broker
        if embedded_broker:
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
        supervisor.exit_on_sigterm()
        url = f"http://{settings.host}:{settings.port}"
        console.print(
            f"[bold green]imagehub {__version__}[/bold green] is running at [bold]{url}[/bold]"
            f" (API docs: {url}/docs); data in {settings.data_dir}. Ctrl-C stops it."
        )
        if embedded_broker:
            console.print(
                f"Embedded broker: {settings.broker_url} (`celery -A imagehub.worker ...`"
                " finds it from the same data folder)",
                soft_wrap=True,
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
    made_folder = None
    if processes > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # Several processes share /metrics through files in one folder (the workers are
        # new interpreters, so setting it here, before they start, is early enough).
        made_folder = tempfile.mkdtemp(prefix="imagehub-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = made_folder
    try:
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
    finally:
        if made_folder:
            shutil.rmtree(made_folder, ignore_errors=True)


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def worker(
    context: typer.Context,
    concurrency: Annotated[
        int | None, typer.Option(help="processes [IMAGEHUB_WORKER_CONCURRENCY]")
    ] = None,
) -> None:
    """Run a Celery worker (prefork pool, late acks).

    Any of Celery's own worker options go through as given, for example `-Q celery`,
    `-n worker1@%h`, `--max-tasks-per-child=500`, `--autoscale=8,2` (celery worker --help).
    """
    own_metrics_folder = _own_metrics_folder()
    from imagehub.run.worker import run_worker

    settings = _production_settings()
    try:
        run_worker(settings, concurrency or settings.worker_concurrency, context.args)
    finally:
        if own_metrics_folder:
            shutil.rmtree(own_metrics_folder, ignore_errors=True)


@app.command()
def beat() -> None:
    """Run the scheduler (exactly one per deployment)."""
    from imagehub.run.worker import run_beat

    settings = _production_settings()
    run_beat(settings)


# A beat that sends its heartbeat every minute saves its schedule at least every ~4 minutes.
BEAT_SILENT_SECONDS = 6 * 60


@health_app.command("api")
def health_api() -> None:
    """The API on this machine answers /healthz."""
    settings = load_settings()
    url = f"http://127.0.0.1:{settings.port}/healthz"
    try:
        httpx.get(url, timeout=3).raise_for_status()
    except httpx.HTTPError as error:
        fail(f"{url}: {error}")


@health_app.command("worker")
def health_worker(
    node: Annotated[
        str | None, typer.Option(help="the worker's node name [celery@this host's name]")
    ] = None,
) -> None:
    """The Celery worker of this host answers a ping through the broker."""
    from imagehub.run.worker import configured_app

    name = node or f"celery@{socket.gethostname()}"
    replies = configured_app().control.ping(destination=[name], timeout=5)
    if not any(name in reply for reply in replies or []):
        fail(f"{name} did not answer a ping within 5 s")


@health_app.command("beat")
def health_beat() -> None:
    """Beat saved its schedule lately (it does after sending jobs, every few minutes)."""
    from imagehub.run.worker import schedule_file

    settings = load_settings()
    schedule = schedule_file(settings)
    saved = [path.stat().st_mtime for path in schedule.parent.glob(f"{schedule.name}*")]
    silent = time.time() - max(saved, default=0)
    if silent > BEAT_SILENT_SECONDS:
        fail(f"beat has not saved its schedule in {settings.data_dir} for {silent:.0f} s")
