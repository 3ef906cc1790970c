"""Repo stats against a local fake GitHub (a real HTTP server), through the real client."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI

from imagehub.core.config import Settings
from imagehub.repostats import github as github_client
from imagehub.repostats import service
from imagehub.repostats.models import Stat
from imagehub.repostats.scan import run_scan
from tests.conftest import assert_error, connected, make_settings, register
from tests.repostats.fake_github import FakeGitHub
from tests.repostats.helpers import (
    TOKEN,
    a_day_passes,
    admin_headers,
    counted,
    retry_times,
    scan,
    stats_rows,
    time_passes,
    track,
)


@pytest.fixture(params=["graphql", "rest"])
def mode(request: pytest.FixtureRequest) -> str:
    """GraphQL and REST with a token; REST without one has its own tests (its quota) here
    and in test_github_as_it_is.py, which runs every case in all three modes."""
    return str(request.param)


ONE_MODE = pytest.mark.parametrize("mode", ["rest"])  # for what no mode changes


async def test_track_scan_and_serve_seed_003_shape(
    client: httpx.AsyncClient, app: FastAPI, settings: Settings, github: FakeGitHub
) -> None:
    github.add_user(1428904, "allien", repos=3, name="Allien Delon")
    admin = await admin_headers(client, app)
    user = await track(client, admin, "Allien")  # any case: GitHub's logins are not
    assert (user["id"], user["login"], user["scanned_on"]) == (1428904, "allien", None)

    report = await asyncio.to_thread(scan, settings)
    assert (report.scanned, report.repositories, report.failed) == (1, 3, [])

    response = await client.get("/v1/users/1428904/stats", headers=admin)
    assert response.status_code == 200, response.text
    today = datetime.now(UTC).date().isoformat()
    assert response.json() == {
        "user": {"id": 1428904, "login": "allien", "name": "Allien Delon"},
        "stats": [
            {"repo_id": 1428904000 + n, "date": today, "stargazers": 10 + n, "forks": n % 7,
             "watchers": 2 + n % 5}
            for n in range(3)
        ],
    }  # fmt: skip
    listed = (await client.get("/v1/users", headers=admin)).json()
    assert [(u["id"], u["scanned_on"]) for u in listed] == [(1428904, today)]
    # What the stats' repo_id values stand for, with the latest counts.
    repos = (await client.get("/v1/users/1428904/repos", headers=admin)).json()
    assert repos == [
        {"id": 1428904000 + n, "full_name": f"allien/repo-{n:04d}", "stargazers": 10 + n,
         "forks": n % 7, "watchers": 2 + n % 5}
        for n in range(3)
    ]  # fmt: skip
    assert_error(await client.get("/v1/users/999/repos", headers=admin), 404)


async def test_a_second_scan_the_same_day_updates_the_row(
    settings: Settings, github: FakeGitHub, client: httpx.AsyncClient, app: FastAPI
) -> None:
    fake_user = github.add_user(7, "octo", repos=2)
    await track(client, await admin_headers(client, app), "octo")
    await asyncio.to_thread(scan, settings)
    fake_user.repos[0].stars = 99
    fake_user.repos[1].watchers = 42
    await asyncio.to_thread(scan, settings)
    rows = stats_rows(settings)
    assert len(rows) == 2  # (repo_id, date) unique: updated, not duplicated
    assert rows[0][2] == 99
    assert rows[1][4] == 42


async def test_pages_renames_and_forks(
    settings: Settings, github: FakeGitHub, client: httpx.AsyncClient, app: FastAPI, mode: str
) -> None:
    big = github.add_user(11, "big", repos=250)
    big.repos[3].fork = True  # forks they own count too
    await track(client, await admin_headers(client, app), "big")
    before = github.requests
    report = await asyncio.to_thread(scan, settings)
    assert report.repositories == 250
    sent = github.requests - before
    # GraphQL: 3 pages of 100. REST: 3 list pages (Link) + one request per repository.
    assert sent == (3 if mode == "graphql" else 3 + 250)
    big.login = "renamed-big"
    report = await asyncio.to_thread(scan, settings)
    assert (report.scanned, report.failed) == (1, [])
    listed = (await client.get("/v1/users/11", headers=await admin_headers(client, app))).json()
    assert listed["login"] == "renamed-big"


async def test_watchers_are_the_real_watcher_count(
    settings: Settings, github: FakeGitHub, client: httpx.AsyncClient, app: FastAPI
) -> None:
    fake_user = github.add_user(5, "w", repos=1)
    fake_user.repos[0].stars, fake_user.repos[0].watchers = 500, 3
    await track(client, await admin_headers(client, app), "w")
    await asyncio.to_thread(scan, settings)
    assert stats_rows(settings)[0][2:] == (500, 0, 3)


@ONE_MODE
async def test_rest_second_scan_of_unchanged_repositories_is_nearly_free(
    tmp_path: Path, clean_database: str, github: FakeGitHub, client: httpx.AsyncClient,
    app: FastAPI,
) -> None:  # fmt: skip
    for n in range(5):
        github.add_user(100 + n, f"user{n}", repos=30)
    rest = make_settings(
        tmp_path, database_url=clean_database, github_api_url=github.url,
        github_token=TOKEN, github_mode="rest", github_rest_per_minute=60_000,
    )  # fmt: skip
    admin = await admin_headers(client, app)
    for n in range(5):
        await track(client, admin, f"user{n}")
    spent = github.quota_spent
    await asyncio.to_thread(scan, rest)
    first = github.quota_spent - spent
    spent = github.quota_spent
    not_modified = counted("imagehub_github_requests_total", outcome="not_modified")
    report = await asyncio.to_thread(scan, rest)
    second = github.quota_spent - spent
    assert first == 5 * (1 + 30)
    assert report.not_modified == 5 * (1 + 30)  # each list page and each repository
    assert counted("imagehub_github_requests_total", outcome="not_modified") == not_modified + 155
    assert counted("imagehub_github_quota_remaining") == github.remaining
    assert second == 0  # the list pages are conditional too: every answer a free 304


@ONE_MODE
async def test_unauthenticated_304s_still_cost_quota(
    tmp_path: Path, clean_database: str, github: FakeGitHub, client: httpx.AsyncClient,
    app: FastAPI,
) -> None:  # fmt: skip
    github.add_user(300, "anon", repos=4)
    anonymous = make_settings(
        tmp_path, database_url=clean_database, github_api_url=github.url, github_mode="rest",
        github_rest_per_minute=60_000,
    )  # fmt: skip
    await track(client, await admin_headers(client, app), "anon")
    await asyncio.to_thread(scan, anonymous)
    spent = github.quota_spent
    report = await asyncio.to_thread(scan, anonymous)
    assert report.not_modified == 1 + 4  # the list page too
    assert github.quota_spent - spent == 5  # GitHub charges anonymous 304s


async def test_server_errors_are_retried_and_one_failing_user_stops_no_one(
    settings: Settings, github: FakeGitHub, client: httpx.AsyncClient, app: FastAPI, mode: str
) -> None:
    for n in range(3):
        github.add_user(200 + n, f"u{n}", repos=2)
    admin = await admin_headers(client, app)
    for n in range(3):
        await track(client, admin, f"u{n}")
    path = "/graphql" if mode == "graphql" else "/users/u0/repos"
    github.fail(path, 502, times=2)  # retried with backoff
    report = await asyncio.to_thread(scan, settings)
    assert (report.scanned, report.failed) == (3, [])

    a_day_passes(settings)
    github.fail("/graphql" if mode == "graphql" else "/users/u1/repos", 500, times=100)
    report = await asyncio.to_thread(run_scan, settings, due_now=True)
    if mode != "graphql":
        assert report.scanned == 2
        assert len(report.failed) == 1
        assert "u1" in report.failed[0]
    github.failures.clear()
    # The failed user waits an hour, so a broken account does not cost a request per beat...
    failed = {login for login, at in retry_times(settings).items() if at is not None}
    assert failed == ({"u0", "u1", "u2"} if mode == "graphql" else {"u1"})
    requests = github.requests
    due = await asyncio.to_thread(run_scan, settings, due_now=True)
    assert (due.scanned, github.requests) == (0, requests)
    # ...and an hour later the next run finishes the day.
    time_passes(settings)
    due = await asyncio.to_thread(run_scan, settings, due_now=True)
    assert (due.scanned, due.failed) == (len(failed), [])
    assert retry_times(settings) == {"u0": None, "u1": None, "u2": None}


async def test_a_spent_rate_limit_ends_the_run_and_the_next_finishes_the_day(
    settings: Settings, github: FakeGitHub, client: httpx.AsyncClient, app: FastAPI
) -> None:
    for n in range(4):
        github.add_user(400 + n, f"r{n}", repos=1)
    admin = await admin_headers(client, app)
    for n in range(4):
        await track(client, admin, f"r{n}")
    github.remaining = 0
    deferred = counted("imagehub_github_users_total", outcome="deferred")
    limited = counted("imagehub_github_requests_total", outcome="rate_limited")
    report = await asyncio.to_thread(run_scan, settings, due_now=True)
    assert report.scanned == 0
    assert report.rate_limited_until is not None
    assert report.deferred == 4
    assert counted("imagehub_github_users_total", outcome="deferred") == deferred + 4
    assert counted("imagehub_github_requests_total", outcome="rate_limited") > limited
    assert counted("imagehub_github_quota_remaining") == 0
    assert stats_rows(settings) == []  # nothing half-written
    # Everyone left waits for GitHub's reset: beat's next looks do not probe GitHub.
    reset = datetime.fromtimestamp(github.reset_at, UTC)
    for waits_until in retry_times(settings).values():
        assert waits_until is not None
        assert abs((waits_until - reset).total_seconds()) < 5
    requests = github.requests
    report = await asyncio.to_thread(run_scan, settings, due_now=True)
    assert (report.scanned, github.requests) == (0, requests)
    github.remaining = 5000  # the hour has turned
    time_passes(settings)
    scanned = counted("imagehub_github_users_total", outcome="scanned")
    report = await asyncio.to_thread(run_scan, settings, due_now=True)
    assert report.scanned == 4
    assert counted("imagehub_github_users_total", outcome="scanned") == scanned + 4
    assert len(stats_rows(settings)) == 4


async def test_short_secondary_limits_are_waited_out(
    settings: Settings, github: FakeGitHub, client: httpx.AsyncClient, app: FastAPI, mode: str
) -> None:
    github.add_user(500, "slow", repos=1)
    await track(client, await admin_headers(client, app), "slow")
    github.fail(
        "/graphql" if mode == "graphql" else "/repos/slow", 429, headers={"retry-after": "1"}
    )
    report = await asyncio.to_thread(scan, settings)
    assert (report.scanned, report.failed) == (1, [])


async def test_requests_per_minute_stay_under_the_ceiling(
    tmp_path: Path, github: FakeGitHub
) -> None:
    """1,200 a minute is 20 a second with a burst of 20 (a bucket holding a minute's worth
    would send all 60 at once, and a minute's worth more in the same minute)."""
    github.add_user(1, "paced", repos=0)
    settings = make_settings(
        tmp_path, github_api_url=github.url, github_token=TOKEN, github_mode="rest",
        github_rest_per_minute=1200,
    )  # fmt: skip
    async with github_client.GitHub(settings) as client:
        started = asyncio.get_running_loop().time()
        await asyncio.gather(*(client.account("paced") for _ in range(60)))
        elapsed = asyncio.get_running_loop().time() - started
    assert github.requests == 60
    assert elapsed >= 1.5  # 40 after the burst at 20 a second: ~2 s (all at once before)


def test_due_day_follows_the_scan_time() -> None:
    at = time(3, 0)
    assert service.due_before(datetime(2026, 5, 2, 2, 59, tzinfo=UTC), at) == date(2026, 5, 1)
    assert service.due_before(datetime(2026, 5, 2, 3, 0, tzinfo=UTC), at) == date(2026, 5, 2)


@ONE_MODE
async def test_tracking_rules_and_bad_input(
    client: httpx.AsyncClient, app: FastAPI, github: FakeGitHub, settings: Settings
) -> None:
    github.add_user(9, "known", repos=1)
    user = (await register(client))["headers"]
    admin = await admin_headers(client, app)
    assert_error(await client.post("/v1/users", json={"login": "known"}), 401)
    assert_error(await client.post("/v1/users", json={"login": "known"}, headers=user), 403)
    assert_error(await client.post("/v1/users", json={"login": "nobody"}, headers=admin), 404)
    for bad in ({"login": ""}, {"login": "a" * 40}, {"login": "../x"}, {}, {"login": "x", "y": 1}):
        assert_error(await client.post("/v1/users", json=bad, headers=admin), 400)
    await track(client, admin, "known")
    assert_error(await client.post("/v1/users", json={"login": "KNOWN"}, headers=admin), 409)
    github.fail("/users/other", 503, times=10)  # GitHub down: a clear 503, nothing stored
    assert_error(await client.post("/v1/users", json={"login": "other"}, headers=admin), 503)

    assert_error(await client.get("/v1/users/9/stats"), 401)
    stats = "/v1/users/9/stats"
    for query in ("?date_from=2026-13-01", "?date_to=yesterday",
                  "?date_from=2026-05-02&date_to=2026-05-01",
                  "?date_from=2020-01-01&date_to=2026-01-01"):  # fmt: skip
        assert_error(await client.get(stats + query, headers=user), 400)
    assert_error(await client.get("/v1/users/8/stats", headers=user), 404)
    assert_error(await client.get("/v1/users/abc", headers=user), 400)
    assert (await client.get(stats, headers=user)).json()["stats"] == []

    await asyncio.to_thread(scan, settings)
    assert_error(await client.delete("/v1/users/9", headers=user), 403)
    assert (await client.delete("/v1/users/9", headers=admin)).status_code == 204
    assert_error(await client.delete("/v1/users/9", headers=admin), 404)
    assert stats_rows(settings) == []  # repositories and stats went with the user
    assert_error(await client.post("/v1/scan", headers=user), 403)
    assert (await client.post("/v1/scan", headers=admin)).status_code == 202


@ONE_MODE
async def test_stats_date_range_is_inclusive(
    client: httpx.AsyncClient, app: FastAPI, github: FakeGitHub, settings: Settings
) -> None:
    github.add_user(12, "dated", repos=1)
    admin = await admin_headers(client, app)
    await track(client, admin, "dated")
    await asyncio.to_thread(scan, settings)
    today = datetime.now(UTC).date()
    with connected(settings.effective_database_url) as connection:  # past daily scans' rows
        for back in (1, 40):
            connection.execute(
                sa.insert(Stat).values(repo_id=12000, date=today - timedelta(days=back),
                                       stargazers=1, forks=1, watchers=1)
            )  # fmt: skip
    default = (await client.get("/v1/users/12/stats", headers=admin)).json()["stats"]
    assert [row["date"] for row in default] == [
        (today - timedelta(days=1)).isoformat(),
        today.isoformat(),
    ]
    day = (today - timedelta(days=40)).isoformat()
    exact = await client.get(f"/v1/users/12/stats?date_from={day}&date_to={day}", headers=admin)
    assert [row["date"] for row in exact.json()["stats"]] == [day]
