"""The daily scan as it runs in production: Celery beat schedules it, a real worker runs it
against the fake GitHub, over a real broker, into SQLite or PostgreSQL."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from imagehub.repostats.models import GithubUser, Repo, Stat
from imagehub.run.embedded import EmbeddedRedis
from tests.conftest import TEST_SECRET, connected
from tests.platform.processes import imagehub_env, start_imagehub, stop_process_tree, wait_for
from tests.repostats.fake_github import FakeGitHub
from tests.repostats.helpers import TOKEN

pytestmark = pytest.mark.slow


@pytest.fixture
def broker_url(
    clean_database: str, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[str]:
    """SQLite with the embedded broker (as `make run`), PostgreSQL with Redis."""
    if clean_database.startswith("sqlite"):
        broker = EmbeddedRedis(tmp_path / "broker")
        yield broker.start()
        broker.stop()
    else:
        yield request.getfixturevalue("redis_url")


def _track(
    database_url: str, fake: FakeGitHub, logins: list[str], scanned_today: list[str]
) -> None:
    today = datetime.now(UTC).date()
    with connected(database_url) as connection:
        for login in logins:
            user = fake.by_login(login)
            assert user is not None
            connection.execute(
                sa.insert(GithubUser).values(
                    id=user.id, login=user.login, name=user.name, node_id=user.node_id,
                    tracked_at=datetime.now(UTC) - timedelta(days=3),
                    scanned_on=today if login in scanned_today else None,
                )
            )  # fmt: skip


def _stats_by_login(database_url: str) -> dict[str, int]:
    today = datetime.now(UTC).date()
    with connected(database_url) as connection:
        rows = connection.execute(
            sa.select(GithubUser.login, sa.func.count(Stat.id))
            .join(Repo, Repo.user_id == GithubUser.id)
            .join(Stat, Stat.repo_id == Repo.id)
            .where(Stat.date == today)
            .group_by(GithubUser.login)
        )
        return {str(row[0]): int(row[1]) for row in rows}


def test_beat_scans_the_due_tracked_users_through_a_worker(
    tmp_path: Path, clean_database: str, broker_url: str, github: FakeGitHub
) -> None:
    github.add_user(71, "due-one", repos=3)
    github.add_user(72, "due-two", repos=120)  # two pages
    github.add_user(73, "done-today", repos=2)
    github.add_user(74, "not-tracked", repos=2)
    _track(clean_database, github, ["due-one", "due-two", "done-today"], ["done-today"])

    env = imagehub_env(
        tmp_path,
        database_url=clean_database,
        broker_url=broker_url,
        secret_key=TEST_SECRET,
        github_api_url=github.url,
        github_token=TOKEN,
        github_scan_at="00:00",  # today's scan is due from midnight
        github_scan_check_seconds="1",
    )
    worker = start_imagehub(["worker", "--concurrency=1"], env, tmp_path / "worker.log")
    beat = start_imagehub(["beat"], env, tmp_path / "beat.log")
    try:
        # Each page is stored as it is read: due-two shows 100 rows before its 120.
        expected = {"due-one": 3, "due-two": 120}
        wait_for(
            lambda: _stats_by_login(clean_database) == expected,
            90,
            "beat's scan to store today's rows",
            tmp_path / "worker.log",
        )
        # One query per 100 repositories per due user; the scanned and the untracked never.
        assert github.requests == 1 + 2
        asked_for = {variables["id"] for _, variables in github.graphql_requests}
        assert asked_for == {"U_71", "U_72"}
        # Beat keeps looking every second; nobody is due any more, so nothing is sent.
        time.sleep(3)
        assert github.requests == 3
    finally:
        stop_process_tree(beat)
        stop_process_tree(worker)
