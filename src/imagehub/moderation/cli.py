"""`imagehub moderation ...`: bulk import and the statistics' day counts."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

from imagehub.core.commands import console, load_settings, migrated_settings
from imagehub.core.db import Database
from imagehub.moderation import service
from imagehub.moderation.schemas import NewImageIn

app = typer.Typer(help="Moderation queue.", no_args_is_help=True)

IMPORT_BATCH = 1000


@app.command("import")
def import_images(
    path: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
) -> None:
    """Load images from a JSON-lines file: one `{group, url, status?, created_at?}` per line.

    Safe to run again on the same file: an image is known by its URL within its group.
    Lines that are not valid are listed and skipped; the exit code is then 1.
    """
    database = Database(migrated_settings().effective_database_url)
    problems: list[str] = []
    read = added = 0

    def flush(batch: list[service.NewImage]) -> None:
        nonlocal read, added
        if batch:
            with database.transaction() as session:  # one transaction per batch
                added += service.register(session, batch).added
            read += len(batch)
            batch.clear()

    columns = (TextColumn("importing"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"))
    try:
        with (
            Progress(*columns, TimeRemainingColumn(), console=console) as progress,
            path.open("rb") as file,
        ):
            bar = progress.add_task("import", total=path.stat().st_size)
            batch: list[service.NewImage] = []
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
                    service.NewImage(item.group, str(item.url), item.status, item.created_at)
                )
                if len(batch) >= IMPORT_BATCH:
                    flush(batch)
            flush(batch)
    finally:
        database.dispose()
    for problem in problems[:20]:
        console.print(f"[yellow]skipped[/yellow] {problem}")
    if len(problems) > 20:
        console.print(f"... and {len(problems) - 20} more")
    console.print(f"{added} image(s) added, {read - added} already there (left as they were)")
    if problems:
        raise typer.Exit(1)


@app.command("recount")
def recount() -> None:
    """Rebuild the per-day counts behind the statistics from the images (after loading
    images into the database by other means than the API or `import`)."""
    database = Database(load_settings().effective_database_url)
    try:
        with database.transaction() as session:
            service.recount(session)
    finally:
        database.dispose()
    console.print("statistics counts rebuilt")
