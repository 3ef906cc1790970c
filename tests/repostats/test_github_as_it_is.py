"""The scanner against what the real GitHub does and our first fake never did: redirects,
secondary limits without a hint, users bigger than a window of quota, listed repositories
whose details are gone, payloads without `node_id` or with wrong fields, organizations.
Each in GraphQL, REST with a token and REST without one (the `mode` fixture)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI

from imagehub.core.config import Settings
from imagehub.repostats.github import GitHub, RateLimited
from imagehub.repostats.models import GithubUser, Repo
from imagehub.repostats.scan import run_scan
from tests.conftest import TEST_SECRET, assert_error, connected, make_settings
from tests.platform.test_cli import run_cli
from tests.repostats.fake_github import FakeGitHub
from tests.repostats.helpers import (
    TOKEN,
    FakeClock,
    admin_headers,
    counted,
    retry_times,
    scan,
    stats_rows,
    time_passes,
    track,
)

REST_ONLY = pytest.mark.parametrize("mode", ["rest", "anonymous"])


def repos_by_id(settings: Settings) -> dict[int, tuple[str, int | None]]:
    with connected(settings.effective_database_url) as connection:
        rows = connection.execute(sa.select(Repo.id, Repo.full_name, Repo.watchers)).all()
    return {row[0]: (row[1], row[2]) for row in rows}


def scan_state(settings: Settings, user_id: int) -> tuple[Any, Any, Any]:
    """(scanned_on, scan_started_at, scan_error) of a tracked user."""
    with connected(settings.effective_database_url) as connection:
        row = connection.execute(
            sa.select(GithubUser.scanned_on, GithubUser.scan_started_at, GithubUser.scan_error)
            .where(GithubUser.id == user_id)
        ).one()  # fmt: skip
    return row[0], row[1], row[2]


# --- Redirects -------------------------------------------------------------------------------


async def test_a_renamed_repository_keeps_its_id_and_takes_its_new_name(
    settings: Settings, github: FakeGitHub, client: httpx.AsyncClient, app: FastAPI, mode: str
) -> None:
    owner = github.add_user(21, "mover", repos=2)
    admin = await admin_headers(client, app)
    await track(client, admin, "mover")
    await asyncio.to_thread(scan, settings)
    # Renamed between the list and the details: the list still says the old name, and the
    # old name answers 301 to /repositories/{id}, as GitHub's does (recorded).
    moved = owner.repos[0]
    moved.previous_names.append(moved.name)
    moved.listed_as, moved.name = moved.name, "moved-here"
    report = await asyncio.to_thread(scan, settings)
    assert (report.scanned, report.failed) == (1, [])
    assert repos_by_id(settings)[21000][0] == "mover/moved-here"
    assert len(stats_rows(settings)) == 2  # the same two repositories, today's rows updated
    if mode != "graphql":  # GraphQL reads repositories by owner, never by name
        assert "/repos/mover/repo-0000" in github.paths
        assert "/repositories/21000" in github.paths
        assert counted("imagehub_github_requests_total", outcome="redirected") >= 1


@REST_ONLY
async def test_redirects_stay_on_github_and_end(
    settings: Settings, github: FakeGitHub, client: httpx.AsyncClient, app: FastAPI
) -> None:
    github.add_user(22, "loops", repos=2)
    admin = await admin_headers(client, app)
    await track(client, admin, "loops")
    path = "/repos/loops/repo-0000"
    github.fail(path, 301, headers={"location": "https://example.com/repositories/22000"})
    report = await asyncio.to_thread(scan, settings)
    assert len(report.failed) == 1
    assert "outside its API" in report.failed[0]
    assert "/repositories/22000" not in github.paths
    # The other repository's row is kept; the user is tried again later, not lost.
    assert [row[0] for row in stats_rows(settings)] == [22001]

    github.failures.clear()
    time_passes(settings)
    github.fail(path, 301, times=20, headers={"location": f"{github.url}{path}"})
    sent = len(github.paths)
    report = await asyncio.to_thread(scan, settings)
    assert len(report.failed) == 1
    assert "more than 5 times" in report.failed[0]
    assert github.paths[sent:].count(path) == 6  # the first request and five redirects


# --- Rate limits as GitHub documents them ----------------------------------------------------


async def test_a_secondary_limit_without_a_hint_is_waited_out_for_a_minute(
    settings: Settings,
    github: FakeGitHub,
    client: httpx.AsyncClient,
    app: FastAPI,
    mode: str,
    clock: FakeClock,
) -> None:
    github.add_user(23, "busy", repos=2)
    await track(client, await admin_headers(client, app), "busy")
    path = "/graphql" if mode == "graphql" else "/repos/busy/repo-0001"
    github.secondary_limit(path)  # a 403 that says so in words only (no Retry-After)
    limited = counted("imagehub_github_requests_total", outcome="rate_limited")
    report = await asyncio.to_thread(scan, settings)
    assert (report.scanned, report.failed, report.deferred) == (1, [], 0)
    assert max(clock.waits) == pytest.approx(60, abs=0.5)  # the retry goes a minute later
    assert counted("imagehub_github_requests_total", outcome="rate_limited") == limited + 1
    assert len(stats_rows(settings)) == 2


async def test_a_minute_is_waited_out_whatever_the_clock_reads(
    settings: Settings,
    github: FakeGitHub,
    client: httpx.AsyncClient,
    app: FastAPI,
    mode: str,
    clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Found by CI: with the monotonic clock just under 8,192 s (a machine up 2 h 16 min),
    (now + 60) - now is a hair over 60, and the one-minute wait deferred the user."""
    stopped_at = 8162.000000000003  # where (now + 60) - now == 60.00000000000091
    monkeypatch.setattr(clock, "monotonic", lambda: stopped_at + clock.offset)
    github.add_user(26, "unlucky", repos=1)
    await track(client, await admin_headers(client, app), "unlucky")
    github.secondary_limit("/graphql" if mode == "graphql" else "/repos/unlucky")
    report = await asyncio.to_thread(scan, settings)
    assert (report.scanned, report.failed, report.deferred) == (1, [], 0)
    assert max(clock.waits) == pytest.approx(60, abs=0.5)


async def test_a_429_without_a_hint_is_a_secondary_limit_too(
    settings: Settings,
    github: FakeGitHub,
    client: httpx.AsyncClient,
    app: FastAPI,
    mode: str,
    clock: FakeClock,
) -> None:
    github.add_user(24, "busier", repos=1)
    await track(client, await admin_headers(client, app), "busier")
    github.fail("/graphql" if mode == "graphql" else "/repos/busier", 429)
    report = await asyncio.to_thread(scan, settings)
    assert (report.scanned, report.failed) == (1, [])
    assert max(clock.waits) == pytest.approx(60, abs=0.5)


async def test_repeated_secondary_limits_back_off_and_defer_the_user_never_fail_it(
    settings: Settings,
    github: FakeGitHub,
    client: httpx.AsyncClient,
    app: FastAPI,
    mode: str,
    clock: FakeClock,
) -> None:
    github.add_user(25, "hammered", repos=3)
    await track(client, await admin_headers(client, app), "hammered")
    path = "/graphql" if mode == "graphql" else "/repos/hammered/repo-0002"
    github.secondary_limit(path, times=2)
    before = datetime.now(UTC)
    report = await asyncio.to_thread(scan, settings)
    # A minute, then GitHub says it again: two minutes is longer than a run waits, so the
    # user is left for beat (after those two minutes), with what was read kept.
    assert (report.scanned, report.failed, report.deferred) == (0, [], 1)
    assert max(clock.waits) == pytest.approx(60, abs=0.5)
    waits_until = retry_times(settings)["hammered"]
    assert waits_until is not None
    assert (waits_until - before).total_seconds() == pytest.approx(60 + 120, abs=10)
    kept = 0 if mode == "graphql" else 2
    assert len(stats_rows(settings)) == kept
    time_passes(settings)
    report = await asyncio.to_thread(run_scan, settings, due_now=True)
    assert (report.scanned, report.failed) == (1, [])
    assert len(stats_rows(settings)) == 3


async def test_secondary_limits_halve_the_pace(tmp_path: Path, github: FakeGitHub) -> None:
    """1,200 a minute is 20 a second with a burst of 20: 40 requests take ~1 s. After a
    secondary limit, 600 a minute: the same 40 take ~3 s (burst of 10, then 10 a second)."""
    github.add_user(1, "paced", repos=0)
    settings = make_settings(
        tmp_path, github_api_url=github.url, github_token=TOKEN, github_mode="rest",
        github_rest_per_minute=1200,
    )  # fmt: skip
    clock = FakeClock()  # the limit's own minute passes at once; the pace runs in real time
    async with GitHub(settings, clock=clock) as client:
        github.fail("/users/paced", 403, headers={"retry-after": "1"})
        await client.account("paced")
        started = asyncio.get_running_loop().time()
        await asyncio.gather(*(client.account("paced") for _ in range(40)))
        elapsed = asyncio.get_running_loop().time() - started
    assert clock.waits[0] == pytest.approx(1, abs=0.2)  # Retry-After, as given
    assert elapsed >= 2.5


async def test_a_spent_hour_waits_until_the_reset_and_a_close_one_is_waited_out(
    tmp_path: Path, github: FakeGitHub
) -> None:
    github.add_user(1, "soon", repos=0)
    settings = make_settings(
        tmp_path, github_api_url=github.url, github_token=TOKEN, github_mode="rest"
    )
    clock = FakeClock()
    async with GitHub(settings, clock=clock) as client:
        github.remaining, github.reset_at = 0, int(datetime.now(UTC).timestamp()) + 3600
        with pytest.raises(RateLimited) as limited:
            await client.account("soon")
        assert 3500 < (limited.value.until - datetime.now(UTC)).total_seconds() < 3700
    async with GitHub(settings, clock=clock) as client:
        github.reset_at = int(datetime.now(UTC).timestamp()) + 20
        github.fail("/users/soon", 403, headers={"x-ratelimit-remaining": "0"})
        github.remaining = 5000  # the fake's next answer: the new hour
        assert await client.account("soon") is not None
        assert 10 < clock.waits[-1] <= 21


# --- Users bigger than one window of quota ---------------------------------------------------


async def test_a_user_needing_three_windows_of_quota_is_complete_after_three(
    settings: Settings, github: FakeGitHub, client: httpx.AsyncClient, app: FastAPI, mode: str
) -> None:
    # REST: 60 requests an hour (GitHub's without a token) for 150 repositories in 2 list
    # pages. GraphQL: one point an hour for 3 pages of 100.
    size = 250 if mode == "graphql" else 150
    github.add_user(26, "large", repos=size)
    admin = await admin_headers(client, app)
    await track(client, admin, "large")
    github.quota = github.remaining = 1 if mode == "graphql" else 60
    spent = github.quota_spent
    stored = []
    for window in range(3):
        if window:
            github.new_window()
            time_passes(settings)
        report = await asyncio.to_thread(run_scan, settings, due_now=True)
        stored.append(len(stats_rows(settings)))
        scanned_on, started, _ = scan_state(settings, 26)
        if window < 2:
            assert report.rate_limited_until is not None
            assert report.failed == []
            assert scanned_on is None  # under way: it resumes
            assert started is not None
            shown = (await client.get("/v1/users/26", headers=admin)).json()
            assert shown["scan_started_at"] is not None
            assert shown["scan_retry_at"] is not None
    assert scan_state(settings, 26)[:2] == (datetime.now(UTC).date(), None), stored
    assert stored[0] < stored[1] < stored[2] == size
    assert stored == ([100, 200, 250] if mode == "graphql" else [59, 117 + (mode == "rest"), 150])
    rows = stats_rows(settings)
    assert len({row[0] for row in rows}) == size  # one row per repository, none twice
    assert all(row[4] is not None for row in rows)
    # Nothing read twice: GraphQL's 3 pages; REST's 150 repositories and the list pages
    # (2 first reads, then 304s: free with a token, charged without).
    assert github.quota_spent - spent == {"graphql": 3, "rest": 152, "anonymous": 155}[mode]


# --- No made-up numbers ----------------------------------------------------------------------


@REST_ONLY
async def test_a_listed_repository_whose_details_are_gone_gets_no_watcher_figure(
    settings: Settings, github: FakeGitHub, client: httpx.AsyncClient, app: FastAPI
) -> None:
    owner = github.add_user(27, "vanishing", repos=2)
    owner.repos[1].hidden = True  # listed, then deleted or made private
    admin = await admin_headers(client, app)
    await track(client, admin, "vanishing")
    report = await asyncio.to_thread(scan, settings)
    assert (report.scanned, report.failed) == (1, [])
    today = datetime.now(UTC).date()
    # Stars and forks as the list showed them; watchers: nobody read them.
    assert stats_rows(settings) == [(27000, today, 10, 0, 2), (27001, today, 11, 1, None)]
    stats = (await client.get("/v1/users/27/stats", headers=admin)).json()["stats"]
    assert [row["watchers"] for row in stats] == [2, None]
    repos = (await client.get("/v1/users/27/repos", headers=admin)).json()
    assert [repo["watchers"] for repo in repos] == [2, None]
    owner.repos[1].hidden = False
    await asyncio.to_thread(scan, settings)
    assert stats_rows(settings)[1] == (27001, today, 11, 1, 3)


# --- Payloads --------------------------------------------------------------------------------


async def test_an_account_without_node_id_is_tracked_and_scanned(
    settings: Settings, github: FakeGitHub, client: httpx.AsyncClient, app: FastAPI, mode: str
) -> None:
    github.add_user(28, "old-enterprise", repos=2, has_node_id=False)
    admin = await admin_headers(client, app)
    tracked = await track(client, admin, "old-enterprise")
    assert tracked["id"] == 28
    report = await asyncio.to_thread(scan, settings)
    assert (report.scanned, report.repositories, report.failed) == (1, 2, [])
    if mode == "graphql":  # by login, as there is no global id to go by
        assert github.graphql_requests[-1][1] == {"login": "old-enterprise", "after": None}


async def test_malformed_payloads_are_clear_errors_never_500s(
    settings: Settings, github: FakeGitHub, client: httpx.AsyncClient, app: FastAPI, mode: str
) -> None:
    admin = await admin_headers(client, app)
    for body in ({"login": "broken"}, {"id": "29", "login": "broken"}, ["not", "a", "user"]):
        github.fail("/users/broken", 200, body=body)
        response = await client.post("/v1/users", json={"login": "broken"}, headers=admin)
        assert_error(response, 503)
    assert (await client.get("/v1/users", headers=admin)).json() == []

    github.add_user(30, "garbled", repos=2)
    await track(client, admin, "garbled")
    if mode == "graphql":
        github.fail("/graphql", 200, body={"data": {"owner": {"login": "garbled"}}})
    else:
        github.fail("/users/garbled/repos", 200, body=[{"id": 30000, "full_name": "x/y"}])
    report = await asyncio.to_thread(scan, settings)
    assert len(report.failed) == 1
    assert "not what its API documents" in report.failed[0], report.failed
    shown = (await client.get("/v1/users/30", headers=admin)).json()
    assert "not what its API documents" in shown["scan_error"]
    assert stats_rows(settings) == []


# --- Organizations ---------------------------------------------------------------------------


async def test_organizations_are_tracked_like_users(
    settings: Settings, github: FakeGitHub, client: httpx.AsyncClient, app: FastAPI, mode: str
) -> None:
    github.add_user(31, "an-org", repos=120, kind="Organization")
    admin = await admin_headers(client, app)
    tracked = await track(client, admin, "an-org")
    assert tracked["kind"] == "Organization"
    report = await asyncio.to_thread(scan, settings)
    assert (report.scanned, report.repositories, report.failed) == (1, 120, [])
    assert len(stats_rows(settings)) == 120
    if mode != "graphql":  # the organization's own list, its next page where Link says
        assert "/orgs/an-org/repos" in github.paths
        assert "/organizations/31/repos" in github.paths
        assert "/users/an-org/repos" not in github.paths


# --- `imagehub github scan` ------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["anonymous"])
async def test_the_cli_scans_everyone_now_and_due_only_those_due(
    settings: Settings, github: FakeGitHub, client: httpx.AsyncClient, app: FastAPI
) -> None:
    for n in range(2):
        github.add_user(40 + n, f"cli{n}", repos=1)
        await track(client, await admin_headers(client, app), f"cli{n}")
    env = {
        "IMAGEHUB_DATA_DIR": str(settings.data_dir),
        "IMAGEHUB_DATABASE_URL": settings.effective_database_url,
        "IMAGEHUB_SECRET_KEY": TEST_SECRET,
        "IMAGEHUB_GITHUB_API_URL": github.url,
        "IMAGEHUB_GITHUB_SCAN_AT": "00:00",
    }
    first = await asyncio.to_thread(run_cli, ["github", "scan"], env)
    assert first.exit_code == 0, first.output
    assert "2 user(s) scanned" in first.output
    # Both are done today: --due finds nobody; a plain scan is everyone, now.
    due = await asyncio.to_thread(run_cli, ["github", "scan", "--due"], env)
    assert "0 user(s) scanned" in due.output
    with connected(settings.effective_database_url) as connection:
        yesterday = datetime.now(UTC).date() - timedelta(days=1)
        connection.execute(
            sa.update(GithubUser).where(GithubUser.id == 40).values(scanned_on=yesterday)
        )
    due = await asyncio.to_thread(run_cli, ["github", "scan", "--due"], env)
    assert "1 user(s) scanned" in due.output
    again = await asyncio.to_thread(run_cli, ["github", "scan"], env)
    assert "2 user(s) scanned" in again.output
