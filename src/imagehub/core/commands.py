"""What every `imagehub` command shares: the console, settings, and failing with a message.

Each domain's commands live in its own `cli.py`; `imagehub.run.cli` gathers them.
"""

from __future__ import annotations

from pathlib import Path
from typing import NoReturn

import typer
from pydantic import ValidationError
from rich.console import Console
from sqlalchemy.engine import make_url

from imagehub.core import migrate
from imagehub.core.config import ConfigurationError, Settings

console = Console(stderr=True)


def fail(message: str, code: int = 1) -> NoReturn:
    console.print(f"[red]error:[/red] {message}")
    raise typer.Exit(code)


def load_settings() -> Settings:
    try:
        return Settings()
    except ValidationError as error:
        fail(f"invalid settings:\n{error}")
    except ConfigurationError as error:
        fail(str(error))


def migrated_settings() -> Settings:
    """Settings for an administration command, which needs the service's database, up to
    date. An SQLite file that is not there is never made here: run from another folder, the
    default `./data` is another (empty) database, and the command says so."""
    settings = load_settings()
    url = make_url(settings.effective_database_url)
    if url.get_backend_name() == "sqlite" and url.database and not Path(url.database).exists():
        fail(
            f"no database at {url.database}: run this from the folder that holds the "
            "service's `data/`, or set IMAGEHUB_DATA_DIR (or IMAGEHUB_DATABASE_URL); "
            "a new service starts with `imagehub migrate`"
        )
    if not migrate.is_up_to_date(settings.effective_database_url):
        fail(
            f"the database ({url.render_as_string(hide_password=True)}) is not migrated: "
            "run `imagehub migrate` first"
        )
    return settings


def describe_invalid(error: ValidationError) -> str:
    return "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors())
