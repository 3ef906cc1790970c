"""What the repo stats tests share: reading the database and the metrics, tracking, time."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import sqlalchemy as sa
from fastapi import FastAPI
from prometheus_client import REGISTRY

from imagehub.accounts.models import Role
from imagehub.core.config import Settings
from imagehub.repostats import github as github_client
from imagehub.repostats.models import GithubUser, Stat
from imagehub.repostats.scan import ScanReport, run_scan
from tests.conftest import connected, promote, register

TOKEN = "ghp_" + "t" * 36


class FakeClock(github_client.Clock):
    """A GitHub client's time that moves only when the client waits, at once."""

    def __init__(self) -> None:
        self.offset = 0.0
        self.waits: list[float] = []

    def monotonic(self) -> float:
        return super().monotonic() + self.offset

    def now(self) -> datetime:
        return super().now() + timedelta(seconds=self.offset)

    async def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.offset += seconds
        await asyncio.sleep(0)


def scan(settings: Settings, **options: Any) -> ScanReport:
    return run_scan(settings, due_now=False, **options)


def retry_times(settings: Settings) -> dict[str, datetime | None]:
    with connected(settings.effective_database_url) as connection:
        rows = connection.execute(sa.select(GithubUser.login, GithubUser.scan_retry_at)).all()
    return dict(rows)


def a_day_passes(settings: Settings) -> None:
    """Every user's last scan was yesterday's: due again."""
    yesterday = datetime.now(UTC).date() - timedelta(days=1)
    with connected(settings.effective_database_url) as connection:
        connection.execute(sa.update(GithubUser).values(scanned_on=yesterday))


def time_passes(settings: Settings) -> None:
    """Every retry time is reached (an hour later, or GitHub's reset)."""
    with connected(settings.effective_database_url) as connection:
        connection.execute(sa.update(GithubUser).values(scan_retry_at=None))


def counted(name: str, **labels: str) -> float:
    """A figure of this process's /metrics (scans run in the test's own process)."""
    return REGISTRY.get_sample_value(name, labels) or 0.0


def stats_rows(settings: Settings) -> list[tuple[int, date, int, int, int | None]]:
    """(repo_id, date, stargazers, forks, watchers), by repository then day."""
    with connected(settings.effective_database_url) as connection:
        rows = connection.execute(
            sa.select(Stat.repo_id, Stat.date, Stat.stargazers, Stat.forks, Stat.watchers)
            .order_by(Stat.repo_id, Stat.date)
        ).all()  # fmt: skip
    return [(row[0], row[1], row[2], row[3], row[4]) for row in rows]


async def admin_headers(client: httpx.AsyncClient, app: FastAPI) -> dict[str, str]:
    account = await register(client)
    await promote(app, account["user"]["email"], Role.ADMIN)
    return dict(account["headers"])


async def track(client: httpx.AsyncClient, headers: dict[str, str], login: str) -> dict[str, Any]:
    response = await client.post("/v1/users", json={"login": login}, headers=headers)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def tracked_and_scanned(
    client: httpx.AsyncClient, app: FastAPI, settings: Settings, login: str
) -> dict[str, str]:
    """An admin's headers, once they tracked `login` and its first scan is stored."""
    admin = await admin_headers(client, app)
    await track(client, admin, login)
    await asyncio.to_thread(scan, settings)
    return admin
