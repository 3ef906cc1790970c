"""`imagehub user ...` on the same database as the running service."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import httpx
from typer.testing import CliRunner, Result

from imagehub.core import migrate
from imagehub.core.config import Settings
from imagehub.run.cli import app as cli
from tests.conftest import TEST_SECRET, assert_error, register

runner = CliRunner()


def run_cli(args: list[str], env: dict[str, str], input: str | None = None) -> Result:
    """A command sets up logging on the runner's stderr, which is closed once it returns:
    put the handlers back, or whatever logs next writes into a closed stream."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        return runner.invoke(cli, args, input=input, env=env)
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)


async def invoke(args: list[str], env: dict[str, str], stdin: str = "") -> Result:
    # The CLI runs its own event loop (asyncio.run), so async tests call it from a thread.
    return await asyncio.to_thread(run_cli, args, env, stdin)


def _env(settings_dir: Path, database_url: str) -> dict[str, str]:
    return {
        "IMAGEHUB_DATA_DIR": str(settings_dir),
        "IMAGEHUB_DATABASE_URL": database_url,
        "IMAGEHUB_SECRET_KEY": TEST_SECRET,
    }


async def test_create_an_admin_and_log_in_through_the_api(
    client: httpx.AsyncClient, settings: Settings, tmp_path: Path
) -> None:
    env = _env(tmp_path, settings.effective_database_url)
    result = await invoke(
        ["user", "create", "Root@Example.com", "--role", "admin", "--first-name", "Ro"],
        env,
        "a long admin password\n",
    )
    assert result.exit_code == 0, result.output
    assert "root@example.com (admin)" in result.output
    login = await client.post(
        "/login", json={"email": "root@example.com", "password": "a long admin password"}
    )
    assert login.status_code == 200
    me = await client.get(
        "/users/me", headers={"Authorization": f"Bearer {login.json()['access_token']}"}
    )
    assert (me.json()["role"], me.json()["first_name"]) == ("admin", "Ro")


async def test_promotion_and_deletion_apply_to_live_tokens(
    client: httpx.AsyncClient, settings: Settings, tmp_path: Path
) -> None:
    account = await register(client, "mod@example.com")
    env = _env(tmp_path, settings.effective_database_url)
    result = await invoke(["user", "promote", "MOD@example.com", "--role", "moderator"], env)
    assert result.exit_code == 0, result.output
    me = await client.get("/users/me", headers=account["headers"])
    assert me.json()["role"] == "moderator"  # the same token, the new role
    result = await invoke(["user", "delete", "mod@example.com", "--yes"], env)
    assert result.exit_code == 0, result.output
    assert_error(await client.get("/users/me", headers=account["headers"]), 401)


def test_cli_refuses_bad_input(settings: Settings, tmp_path: Path) -> None:
    env = _env(tmp_path, settings.effective_database_url)
    cases = [
        (["user", "create", "not-an-email"], "password123\n", "email"),
        (["user", "create", "x@example.com"], "short\n", "password"),
        (["user", "create", "x@example.com", "--role", "root"], "password123\n", "root"),
        (["user", "promote", "nobody@example.com", "--role", "admin"], "", "No user"),
    ]
    for args, stdin, expected in cases:
        result = run_cli(args, input=stdin, env=env)
        assert result.exit_code != 0, args
        assert expected in result.output, result.output


def test_duplicate_user_from_the_cli(settings: Settings, tmp_path: Path) -> None:
    env = _env(tmp_path, settings.effective_database_url)
    args = ["user", "create", "dup@example.com"]
    assert run_cli(args, input="password123\n", env=env).exit_code == 0
    again = run_cli(args, input="password123\n", env=env)
    assert again.exit_code == 1
    assert "already exists" in again.output


def test_an_unmigrated_database_is_named_not_crashed_on(tmp_path: Path) -> None:
    env = _env(tmp_path, f"sqlite:///{tmp_path / 'empty.db'}")
    result = run_cli(["user", "create", "x@example.com"], input="password123\n", env=env)
    assert result.exit_code == 1
    assert "imagehub migrate" in result.output
    migrated = run_cli(["migrate"], env=env)
    assert migrated.exit_code == 0, migrated.output
    assert migrate.is_up_to_date(env["IMAGEHUB_DATABASE_URL"])


def test_admin_commands_never_make_an_empty_database_elsewhere(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    env = {"IMAGEHUB_DATA_DIR": str(elsewhere), "IMAGEHUB_SECRET_KEY": TEST_SECRET}
    result = run_cli(["user", "promote", "x@example.com", "--role", "admin"], env=env)
    assert result.exit_code == 1
    unwrapped = "".join(result.output.split())  # the console wraps long paths anywhere
    assert f"nodatabaseat{elsewhere / 'imagehub.db'}" in unwrapped
    assert not (elsewhere / "imagehub.db").exists()


def test_version_option() -> None:
    from imagehub import __version__

    result = run_cli(["--version"], env={})
    assert result.exit_code == 0
    assert result.output.strip() == __version__


def test_production_commands_refuse_without_a_secret(tmp_path: Path) -> None:
    env = {"IMAGEHUB_DATA_DIR": str(tmp_path), "IMAGEHUB_BROKER_URL": "redis://127.0.0.1:1/0"}
    for command in ("api", "worker", "beat"):
        result = run_cli([command], env={**env, "IMAGEHUB_SECRET_KEY": ""})
        assert result.exit_code == 1, command
        assert "IMAGEHUB_SECRET_KEY" in result.output


def test_moderation_import_is_idempotent_and_reports_bad_lines(
    settings: Settings, tmp_path: Path
) -> None:
    import json

    import sqlalchemy as sa

    from imagehub.core.db import create_engine

    env = _env(tmp_path, settings.effective_database_url)
    lines = [
        json.dumps({"group": f"g{i % 7}", "url": f"https://x.io/{i}.jpg"}) for i in range(2500)
    ]
    lines.insert(10, "{not json")
    lines.insert(20, json.dumps({"group": "g", "url": "ftp://x.io/a.jpg"}))
    lines.append("")
    source = tmp_path / "images.jsonl"
    source.write_text("\n".join(lines))
    first = run_cli(["moderation", "import", str(source)], env=env)
    assert first.exit_code == 1, first.output
    assert "line 11" in first.output
    assert "line 21" in first.output
    assert "2500 image(s) added, 0 already there" in first.output
    again = run_cli(["moderation", "import", str(source)], env=env)
    assert again.exit_code == 1
    assert "0 image(s) added, 2500 already there" in again.output
    engine = create_engine(settings.effective_database_url)
    with engine.connect() as connection:
        assert connection.execute(sa.text("SELECT count(*) FROM images")).scalar_one() == 2500
        assert connection.execute(sa.text("SELECT count(*) FROM groups")).scalar_one() == 7
    engine.dispose()
