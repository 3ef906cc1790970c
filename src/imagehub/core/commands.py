"""What every `imagehub` command shares: the console, settings, and failing with a message.

Each domain's commands live in its own `cli.py`; `imagehub.run.cli` gathers them.
"""

from __future__ import annotations

from typing import NoReturn

import typer
from pydantic import ValidationError
from rich.console import Console

from imagehub.core import migrate
from imagehub.core.config import Settings

console = Console(stderr=True)


def fail(message: str, code: int = 1) -> NoReturn:
    console.print(f"[red]error:[/red] {message}")
    raise typer.Exit(code)


def load_settings() -> Settings:
    try:
        return Settings()
    except ValidationError as error:
        fail(f"invalid settings:\n{error}")


def migrated_settings() -> Settings:
    """Settings for an administration command, which needs an up-to-date schema."""
    settings = load_settings()
    if not migrate.is_up_to_date(settings.effective_database_url):
        fail("the database is not migrated: run `imagehub migrate` first")
    return settings


def describe_invalid(error: ValidationError) -> str:
    return "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors())
