"""`imagehub user ...`: accounts made, promoted and deleted from the command line."""

from __future__ import annotations

import getpass
import os
import sys
from collections.abc import Awaitable, Callable
from typing import Annotated, TypeVar

import typer
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from imagehub.accounts import service
from imagehub.accounts.models import Role
from imagehub.accounts.schemas import RegistrationIn
from imagehub.core.commands import console, describe_invalid, fail, migrated_settings
from imagehub.core.db import AsyncDatabase, run_async
from imagehub.core.errors import AppError
from imagehub.core.storage import Storage

T = TypeVar("T")

app = typer.Typer(help="Manage accounts.", no_args_is_help=True)


def _in_transaction(action: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Run one service call in a transaction of its own, on the configured database."""
    settings = migrated_settings()

    async def work(database: AsyncDatabase) -> T:
        async with database.transaction() as session:
            return await action(session)

    try:
        return run_async(settings.effective_database_url, work)
    except AppError as error:
        fail(error.description)


def _ask_password() -> str:
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass("Password: ")
    if first != getpass.getpass("Repeat the password: "):
        fail("the passwords differ")
    return first


@app.command("create")
def create(
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
        fail(describe_invalid(error))
    user = _in_transaction(
        lambda session: service.register(
            session,
            email=valid.email,
            password=valid.password,
            first_name=valid.first_name,
            last_name=valid.last_name,
            role=role,
        )
    )
    console.print(f"created {user.email} ({user.role}), id {user.id}")


@app.command("promote")
def promote(
    email: str,
    role: Annotated[Role, typer.Option(help="user, moderator or admin")],
) -> None:
    """Give an account another role (takes effect on its next request)."""
    user = _in_transaction(lambda session: service.change_role(session, email, role))
    console.print(f"{user.email} is now {user.role}")


@app.command("delete")
def delete(
    email: str,
    yes: Annotated[bool, typer.Option("--yes", help="do not ask for confirmation")] = False,
) -> None:
    """Delete an account and everything it owns (its tasks, every stored file of them, the
    moderation images of its uploads); its tokens stop working at once."""
    if not yes:
        typer.confirm(f"Delete {email} and everything it owns?", abort=True)
    storage = Storage.from_settings(migrated_settings())
    tasks = _in_transaction(lambda session: service.delete(session, storage, email))
    console.print(f"deleted {email} and its {tasks} task(s)")
