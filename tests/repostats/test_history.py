"""History before tracking, reconstructed from GitHub's lists of stargazers and forks (the
fake serves them as GitHub does: the star media type, `Link` pages, the 422 past its page
cap), stored apart from the readings and served with `?include=history` and as CSV."""

from __future__ import annotations

import asyncio
import csv
import io
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI

from imagehub.core import migrate
from imagehub.core.config import Settings
from imagehub.core.db import create_engine
from imagehub.repostats.backfill import run_backfill
from imagehub.repostats.github import GitHub, Usage
from imagehub.repostats.history import (
    Reconstruction,
    count_newest_page,
    count_page,
    ends_meet,
    history_days,
)
from imagehub.repostats.models import GithubUser, HistoryPoint, HistoryRead, Repo
from tests.conftest import TEST_SECRET, assert_error, connected, make_settings
from tests.platform.test_cli import run_cli
from tests.repostats.fake_github import FakeGitHub
from tests.repostats.helpers import (
    TOKEN,
    a_day_passes,
    admin_headers,
    scan,
    track,
    tracked_and_scanned,
)

TODAY = datetime.now(UTC).date()
YESTERDAY = TODAY - timedelta(days=1)


def at(day: date, hour: int = 12) -> datetime:
    return datetime.combine(day, time(hour), tzinfo=UTC)


@pytest.fixture(params=["rest", "anonymous"])
def mode(request: pytest.FixtureRequest) -> str:
    """Lists of stargazers and forks are REST's in every mode; with a token and without."""
    return str(request.param)


# --- The counting rules ---------------------------------------------------------------------


def test_a_page_counts_each_day_it_touches_and_stops_past_the_last_day() -> None:
    d1, d2, d3 = date(2024, 1, 1), date(2024, 1, 2), date(2024, 1, 5)
    moments = [at(d1, 1), at(d1, 2), at(d2), at(d3), at(d3, 13)]
    assert count_page(moments, 10, through=d3) == (15, {d1: 12, d2: 13, d3: 15}, False)
    # The list goes on past `through`: the rest is the daily scan's.
    assert count_page(moments, 0, through=d2) == (3, {d1: 2, d2: 3}, True)


def test_the_days_between_points_carry_the_count_and_the_cap_is_estimated() -> None:
    through = date(2024, 1, 10)
    stars = Reconstruction([(date(2024, 1, 2), 5), (date(2024, 1, 4), 9)], through)
    forks = Reconstruction([(date(2024, 1, 3), 1)], through)
    days = history_days(stars, forks, date(2024, 1, 1), date(2024, 1, 5))
    assert [(d.day.day, d.stargazers, d.forks, d.source) for d in days] == [
        (2, 5, 0, "reconstructed"),  # from the first star on
        (3, 5, 1, "reconstructed"),
        (4, 9, 1, "reconstructed"),
        (5, 9, 1, "reconstructed"),
    ]
    # Capped: known to the 4th (9 stars), 29 on the tracking day (the 11th): +20 in 7 days.
    capped = Reconstruction(stars.points, through, date(2024, 1, 4), 29)
    assert capped.on(date(2024, 1, 4)) == (9, False)
    assert capped.on(date(2024, 1, 5)) == (9 + round(20 / 7), True)
    assert capped.on(through) == (9 + round(20 * 6 / 7), True)
    assert history_days(Reconstruction([], through), forks, date(2024, 1, 1), through)[0].day == (
        date(2024, 1, 3)
    )


def test_a_page_from_the_newest_end_counts_each_day_back_from_the_total() -> None:
    d1, d2, d3, d4 = (date(2024, 1, n) for n in (1, 2, 5, 9))
    # 20 in all; newest first: two after `through` (the scan's), then three days of it.
    page = [at(d4, 2), at(d4, 1), at(d3, 13), at(d3), at(d2)]
    seen, points, known_from = count_newest_page(page, 0, 20, through=d3, known_from=None)
    # The end of the 5th: 20 less the two after it; of the 2nd: less those four.
    assert (seen, points, known_from) == (5, {d3: 18, d2: 16}, d2)
    # The next page goes on within the 2nd (already counted), then meets the 1st.
    more = [at(d2, 1), at(d1, 5)]
    assert count_newest_page(more, seen, 20, d3, known_from) == (7, {d1: 14}, d1)
    # Known to the 1st from the oldest end: the ends meet once the newest reaches the 2nd.
    assert ends_meet(d1, d2)
    assert ends_meet(None, None)
    assert not ends_meet(d1, d3)
    assert not ends_meet(d1, None)


def test_between_the_two_ends_the_days_are_estimated_on_a_line() -> None:
    through = date(2024, 1, 20)
    # Oldest end known to the 4th (9); newest end known from the 14th (59).
    points = [(date(2024, 1, 2), 5), (date(2024, 1, 4), 9), (date(2024, 1, 14), 59),
              (date(2024, 1, 18), 70)]  # fmt: skip
    both = Reconstruction(points, through, date(2024, 1, 4), 80, exact_from=date(2024, 1, 14))
    assert both.on(date(2024, 1, 4)) == (9, False)
    assert both.on(date(2024, 1, 9)) == (9 + round(50 * 5 / 10), True)
    assert both.on(date(2024, 1, 13)) == (9 + round(50 * 9 / 10), True)
    assert both.on(date(2024, 1, 14)) == (59, False)
    assert both.on(date(2024, 1, 17)) == (59, False)
    assert both.on(through) == (70, False)


def test_each_rate_limit_window_is_kept_apart_and_the_scantiest_decides() -> None:
    """REST ("core") and GraphQL have windows of their own; a backfill spends both, and
    the daily scan needs its own kept."""
    usage = Usage()
    assert (usage.spare(0.25), usage.below(0.25)) == (None, False)

    def answer(resource: str, limit: int, remaining: int) -> httpx.Response:
        headers = {
            "x-ratelimit-resource": resource,
            "x-ratelimit-limit": str(limit),
            "x-ratelimit-remaining": str(remaining),
        }
        return httpx.Response(200, headers=headers, request=httpx.Request("GET", "/"))

    usage.record(answer("core", 5000, 4000), None)
    usage.record(answer("graphql", 5000, 1500), None)
    usage.record(answer("core", 5000, 3990), None)  # the last answer is REST's: GraphQL stays
    assert usage.spare(0.25) == 1500 - 1250
    assert not usage.below(0.25)
    usage.record(answer("graphql", 5000, 1200), None)
    assert usage.below(0.25)


# --- Against the fake GitHub ----------------------------------------------------------------


def _history(settings: Settings) -> list[tuple[int, str, date, int]]:
    with connected(settings.effective_database_url) as connection:
        rows = connection.execute(
            sa.select(
                HistoryPoint.repo_id, HistoryPoint.metric, HistoryPoint.date, HistoryPoint.total
            )
            .order_by(HistoryPoint.repo_id, HistoryPoint.metric, HistoryPoint.date)
        ).all()  # fmt: skip
    return [(r[0], r[1], r[2], r[3]) for r in rows]


def _star_days(count: int, first: date, per_day: int) -> list[datetime]:
    return [at(first + timedelta(days=i // per_day), 1 + i % per_day) for i in range(count)]


async def test_a_tracked_users_history_is_reconstructed_and_served(
    client: httpx.AsyncClient, app: FastAPI, settings: Settings, github: FakeGitHub
) -> None:
    user = github.add_user(7001, "historian", repos=2)
    first, second = user.repos
    week_ago = TODAY - timedelta(days=7)
    # 3 stars a week ago, 2 five days ago, one today (the scan's, not history's); forks two.
    github.give_history(
        first,
        [at(week_ago, 1), at(week_ago, 2), at(week_ago, 3), at(week_ago + timedelta(days=2)),
         at(week_ago + timedelta(days=2), 5), at(TODAY, 0)],
        [at(week_ago + timedelta(days=1)), at(YESTERDAY)],
    )  # fmt: skip
    github.give_history(second, [], [])
    admin = await tracked_and_scanned(client, app, settings, "historian")

    before = await client.get("/v1/users/7001", headers=admin)
    assert before.json()["history"] == {"state": "pending", "repositories": 2, "finished": 0}
    report = await asyncio.to_thread(run_backfill, settings, behind_scan=False)
    assert (report.reads, report.finished, report.failed, report.stopped) == (4, 4, [], None)
    # One page each for the first's stars and forks; the second has neither (as its scan
    # said): nothing to ask GitHub.
    assert report.requests == 2
    done = await client.get("/v1/users/7001", headers=admin)
    assert done.json()["history"] == {"state": "done", "repositories": 2, "finished": 2}

    # The seed's shape and meaning by default: only the day read.
    plain = (await client.get("/v1/users/7001/stats", headers=admin)).json()["stats"]
    assert [(row["repo_id"], row["date"]) for row in plain] == [
        (first.id, TODAY.isoformat()),
        (second.id, TODAY.isoformat()),
    ]
    assert "source" not in plain[0]
    query = {"include": "history", "date_from": (week_ago - timedelta(days=1)).isoformat()}
    body = (await client.get("/v1/users/7001/stats", params=query, headers=admin)).json()
    rows = [
        (r["date"], r["stargazers"], r["forks"], r["watchers"], r["source"])
        for r in body["stats"]
        if r["repo_id"] == first.id
    ]

    def day(n: int) -> str:
        return (week_ago + timedelta(days=n)).isoformat()

    assert rows == [
        (day(0), 3, 0, None, "reconstructed"),  # from its first star; watchers unknown
        (day(1), 3, 1, None, "reconstructed"),
        (day(2), 5, 1, None, "reconstructed"),
        (day(3), 5, 1, None, "reconstructed"),
        (day(4), 5, 1, None, "reconstructed"),
        (day(5), 5, 1, None, "reconstructed"),
        (day(6), 5, 2, None, "reconstructed"),  # yesterday, the day before tracking
        (TODAY.isoformat(), 6, 2, first.watchers, "scan"),  # read, as it was
    ]
    # No star nor fork ever: no history, only what was read.
    assert [r["source"] for r in body["stats"] if r["repo_id"] == second.id] == ["scan"]

    # The same rows as CSV, at .csv or by Accept.
    as_csv = await client.get("/v1/users/7001/stats.csv", params=query, headers=admin)
    assert as_csv.status_code == 200
    assert as_csv.headers["content-type"].startswith("text/csv")
    table = list(csv.reader(io.StringIO(as_csv.text)))
    assert table[0] == ["repo_id", "date", "stargazers", "forks", "watchers", "source"]
    assert table[1] == [str(first.id), day(0), "3", "0", "", "reconstructed"]
    assert len(table) == 1 + len(body["stats"])
    accepted = await client.get(
        "/v1/users/7001/stats", params=query, headers={**admin, "Accept": "text/csv"}
    )
    assert accepted.text == as_csv.text

    # Incremental: read once, never again.
    again = await asyncio.to_thread(run_backfill, settings, behind_scan=False)
    assert (again.reads, again.requests) == (0, 0)


@pytest.mark.parametrize("mode", ["anonymous"])  # no token, no GraphQL: no newest end
async def test_past_githubs_page_cap_the_rest_is_estimated_to_the_tracking_days_count(
    client: httpx.AsyncClient, app: FastAPI, settings: Settings, github: FakeGitHub
) -> None:
    github.page_cap = 2  # GitHub's 400 pages of 100, in small
    user = github.add_user(7002, "popular", repos=1)
    (repo,) = user.repos
    start = TODAY - timedelta(days=40)
    github.give_history(repo, _star_days(350, start, per_day=10), [])  # 10 a day for 35 days
    admin = await tracked_and_scanned(client, app, settings, "popular")
    report = await asyncio.to_thread(run_backfill, settings, behind_scan=False)
    assert (report.finished, report.stopped) == (2, None)
    # The scan said 350: pages 1 to 4 asked at once; 3 and 4 answer the 422.
    assert sum(path.endswith("/stargazers") for path in github.paths) == 4
    state = (await client.get("/v1/users/7002", headers=admin)).json()["history"]
    assert state["state"] == "estimated"

    query = {"include": "history", "date_from": start.isoformat()}
    rows = (await client.get("/v1/users/7002/stats", params=query, headers=admin)).json()["stats"]
    by_day = {date.fromisoformat(r["date"]): (r["stargazers"], r["source"]) for r in rows}
    # 200 stars read: 20 days of 10. The 20th day might go on past the cap: known to the 19th.
    assert by_day[start] == (10, "reconstructed")
    assert by_day[start + timedelta(days=18)] == (190, "reconstructed")
    assert by_day[start + timedelta(days=19)][1] == "estimated"
    assert by_day[YESTERDAY][1] == "estimated"
    assert by_day[TODAY] == (350, "scan")
    # The estimate rises on a straight line from 190 to the 350 read on the tracking day.
    estimated = [by_day[start + timedelta(days=19 + n)][0] for n in range(21)]
    assert estimated == sorted(estimated)
    assert 190 < estimated[0] < estimated[-1] < 350
    # Against the truth (10 a day to day 34, none since): off by at most what the line misses.
    truth = {start + timedelta(days=n): min(350, 10 * (n + 1)) for n in range(40)}
    worst = max(abs(by_day[d][0] - truth[d]) for d in truth if d in by_day and d < TODAY)
    assert worst <= 60


async def _capped_history(
    client: httpx.AsyncClient, app: FastAPI, settings: Settings, github: FakeGitHub, user_id: int
) -> tuple[date, dict[date, tuple[int, int, str]], str]:
    """A repository of 350 stars (10 a day for 35 days) and 210 forks (6 a day), read past
    a REST cap of 2 pages: its first day, its days by date (stars, forks, source) and its
    user's history state."""
    github.page_cap = 2  # GitHub's 400 pages of 100, in small
    user = github.add_user(user_id, f"popular{user_id}", repos=1)
    (repo,) = user.repos
    start = TODAY - timedelta(days=40)
    github.give_history(repo, _star_days(350, start, per_day=10), _star_days(210, start, 6))
    admin = await tracked_and_scanned(client, app, settings, user.login)
    report = await asyncio.to_thread(run_backfill, settings, behind_scan=False)
    assert (report.finished, report.failed, report.stopped) == (2, [], None)
    query = {"include": "history", "date_from": start.isoformat()}
    path = f"/v1/users/{user_id}"
    rows = (await client.get(f"{path}/stats", params=query, headers=admin)).json()["stats"]
    by_day = {
        date.fromisoformat(r["date"]): (r["stargazers"], r["forks"], r["source"]) for r in rows
    }
    state = (await client.get(path, headers=admin)).json()["history"]["state"]
    return start, by_day, state


@pytest.mark.parametrize("mode", ["graphql", "rest"])  # a token: GraphQL's newest end
async def test_past_githubs_page_cap_the_newest_end_is_read_until_the_ends_meet(
    client: httpx.AsyncClient, app: FastAPI, settings: Settings, github: FakeGitHub
) -> None:
    start, by_day, state = await _capped_history(client, app, settings, github, 7005)
    # Every day exact: 200 read from the oldest end, the rest counted back from the total.
    truth = {
        start + timedelta(days=n): (min(350, 10 * (n + 1)), min(210, 6 * (n + 1)), "reconstructed")
        for n in range(40)
    }
    assert {d: by_day[d] for d in truth if d < TODAY} == {
        d: t for d, t in truth.items() if d < TODAY
    }
    assert state == "done"
    # 2 REST pages and the 422, then 2 GraphQL pages of 100 newest first (days 34 to 15).
    newest = [v for q, v in github.graphql_requests if "Newest" in q and v["stars"]]
    assert [v["after"] for v in newest] == [None, "100"]
    forks = [v for q, v in github.graphql_requests if "Newest" in q and not v["stars"]]
    assert [v["after"] for v in forks] == [None]  # 100 back from 210: past the 200 read


@pytest.mark.parametrize("mode", ["graphql"])
async def test_graphql_gives_a_list_newest_first_with_its_total(
    settings: Settings, github: FakeGitHub
) -> None:
    user = github.add_user(7009, "ordered", repos=1)
    (repo,) = user.repos
    stars = _star_days(150, TODAY - timedelta(days=20), per_day=10)
    github.give_history(repo, stars, stars[:3])
    async with GitHub(settings) as client:
        first = await client.newest_history_page(f"ordered/{repo.name}", "stars", None)
        second = await client.newest_history_page(f"ordered/{repo.name}", "stars", first.cursor)
        forks = await client.newest_history_page(f"ordered/{repo.name}", "forks", None)
        gone = await client.newest_history_page("ordered/nothing-here", "stars", None)
    assert (first.total, len(first.moments), second.cursor) == (150, 100, None)
    assert list(first.moments + second.moments) == stars[::-1]  # newest first, all of them
    assert (forks.total, list(forks.moments), forks.cursor) == (3, stars[:3][::-1], None)
    assert (gone.gone, gone.moments) == (True, ())


@pytest.mark.parametrize("mode", ["rest"])
async def test_a_newest_end_short_of_the_oldest_leaves_the_middle_estimated(
    client: httpx.AsyncClient, app: FastAPI, github: FakeGitHub, tmp_path: Path, clean_database: str
) -> None:
    settings = make_settings(
        tmp_path, database_url=clean_database, broker_url="memory://",
        github_api_url=github.url, github_token=TOKEN, github_mode="rest",
        github_scan_at="00:00", github_history_newest_pages=1,
    )  # fmt: skip
    start, by_day, state = await _capped_history(client, app, settings, github, 7006)
    assert state == "estimated"
    # Stars known to day 18 from the oldest end (190), from day 25 from the newest (260,
    # one page of 100 back from 350); days 19 to 24 on the line between them. The forks'
    # one page met the oldest end: exact.
    day = {n: by_day[start + timedelta(days=n)][:2] for n in range(35)}
    sources = {n: by_day[start + timedelta(days=n)][2] for n in range(35)}
    assert [day[n][0] for n in range(18, 26)] == [190 + 10 * i for i in range(8)]
    assert [sources[n] for n in range(18, 26)] == ["reconstructed"] + ["estimated"] * 6 + [
        "reconstructed"
    ]
    assert [day[n][1] for n in range(35)] == [6 * (n + 1) for n in range(35)]
    assert day[34] == (350, 210)


def test_an_upgrade_reopens_reads_capped_before_the_newest_end_was_read(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'before.db'}"
    migrate.upgrade(url, "4ad0f4f471ca")  # history, oldest end only
    engine = create_engine(url)
    try:
        with engine.begin() as connection:
            connection.execute(sa.insert(GithubUser).values(id=1, login="old", name=None))
            connection.execute(sa.insert(Repo).values(id=10, user_id=1, full_name="old/r"))
            for metric, known_until in (("stars", "2024-01-10"), ("forks", None)):
                connection.execute(
                    sa.text(
                        "INSERT INTO history_reads (repo_id, metric, through, counted,"
                        " known_until, finished_at) VALUES (10, :metric, '2024-02-01', 40000,"
                        " :known_until, '2024-02-02 00:00:00')"
                    ),
                    {"metric": metric, "known_until": known_until},
                )
        migrate.upgrade(url)
        with engine.connect() as connection:
            rows = connection.execute(
                sa.select(HistoryRead.metric, HistoryRead.finished_at).order_by(HistoryRead.metric)
            ).all()
    finally:
        engine.dispose()
    # The capped one is open again, to be read from its newest end; the whole one stays.
    assert [(metric, finished is None) for metric, finished in rows] == [
        ("forks", False),
        ("stars", True),
    ]


async def test_a_backfill_cut_short_goes_on_from_what_is_stored(
    client: httpx.AsyncClient, app: FastAPI, settings: Settings, github: FakeGitHub
) -> None:
    user = github.add_user(7003, "patient", repos=1)
    (repo,) = user.repos
    start = TODAY - timedelta(days=30)
    github.give_history(repo, _star_days(520, start, per_day=20), _star_days(5, start, 1))
    admin = await tracked_and_scanned(client, app, settings, "patient")
    # Little quota left: the backfill keeps a quarter of the window for the scans.
    github.quota, github.remaining = 8, 4
    cut = await asyncio.to_thread(run_backfill, settings, behind_scan=False)
    assert cut.stopped == "quota"
    assert cut.finished < 2
    kept = _history(settings)
    assert kept, "what was read before the stop is stored"
    state = (await client.get("/v1/users/7003", headers=admin)).json()["history"]["state"]
    assert state == "running"
    github.quota = github.remaining = 5000
    rest = await asyncio.to_thread(run_backfill, settings, behind_scan=False)
    assert (rest.finished, rest.stopped) == (2 - cut.finished, None)
    # Six pages of stars and one of forks in all, each read once.
    assert cut.requests + rest.requests == 7
    stars = [(d, n) for _, metric, d, n in _history(settings) if metric == "stars"]
    assert stars == [(start + timedelta(days=i), 20 * (i + 1)) for i in range(26)]


async def test_two_backfill_runs_at_once_never_read_the_same_list(
    client: httpx.AsyncClient, app: FastAPI, settings: Settings, github: FakeGitHub
) -> None:
    user = github.add_user(7007, "twice", repos=1)
    (repo,) = user.repos
    github.give_history(repo, _star_days(500, TODAY - timedelta(days=30), 20), [])
    admin = await tracked_and_scanned(client, app, settings, "twice")
    github.latency = 0.05  # each page takes a while: the runs overlap
    before = len(github.paths)
    first, second = await asyncio.gather(
        asyncio.to_thread(run_backfill, settings, behind_scan=False),
        asyncio.to_thread(run_backfill, settings, behind_scan=False),
    )
    assert first.finished + second.finished == 2
    # Five full pages and the empty one after them, once each (no forks: no request).
    asked = [path for path in github.paths[before:] if "/stargazers" in path or "/forks" in path]
    assert len(asked) == 6, asked
    stars = [(d, n) for _, metric, d, n in _history(settings) if metric == "stars"]
    assert stars[-1] == (TODAY - timedelta(days=6), 500)
    state = (await client.get("/v1/users/7007", headers=admin)).json()["history"]["state"]
    assert state == "done"


@pytest.mark.parametrize("mode", ["anonymous"])
async def test_a_user_without_repositories_has_nothing_to_reconstruct(
    client: httpx.AsyncClient, app: FastAPI, settings: Settings, github: FakeGitHub
) -> None:
    github.add_user(7008, "empty", repos=0)
    admin = await admin_headers(client, app)
    await track(client, admin, "empty")
    # Not scanned yet: nobody knows what there is to read.
    unscanned = (await client.get("/v1/users/7008", headers=admin)).json()["history"]
    assert unscanned["state"] == "pending"
    await asyncio.to_thread(scan, settings)
    report = await asyncio.to_thread(run_backfill, settings, behind_scan=False)
    assert (report.reads, report.requests) == (0, 0)
    history = (await client.get("/v1/users/7008", headers=admin)).json()["history"]
    assert history == {"state": "done", "repositories": 0, "finished": 0}


async def test_the_backfill_waits_behind_the_daily_scan(
    client: httpx.AsyncClient, app: FastAPI, settings: Settings, github: FakeGitHub
) -> None:
    github.add_user(7004, "second", repos=1)
    await tracked_and_scanned(client, app, settings, "second")
    a_day_passes(settings)  # today's scan is due and not done
    before = github.requests
    waiting = await asyncio.to_thread(run_backfill, settings)
    assert (waiting.stopped, waiting.reads, github.requests) == ("daily scan due", 0, before)
    await asyncio.to_thread(scan, settings)
    behind = await asyncio.to_thread(run_backfill, settings)
    assert (behind.stopped, behind.finished) == (None, 2)


@pytest.mark.parametrize("mode", ["anonymous"])
async def test_the_cli_backfills_one_user_or_all(
    client: httpx.AsyncClient, app: FastAPI, settings: Settings, github: FakeGitHub
) -> None:
    for n in range(2):
        github.add_user(7010 + n, f"back{n}", repos=1)
        await track(client, await admin_headers(client, app), f"back{n}")
    await asyncio.to_thread(scan, settings)
    env = {
        "IMAGEHUB_DATA_DIR": str(settings.data_dir),
        "IMAGEHUB_DATABASE_URL": settings.effective_database_url,
        "IMAGEHUB_SECRET_KEY": TEST_SECRET,
        "IMAGEHUB_GITHUB_API_URL": github.url,
    }
    neither = await asyncio.to_thread(run_cli, ["github", "backfill"], env)
    assert neither.exit_code == 1
    assert "--all" in neither.output
    unknown = await asyncio.to_thread(run_cli, ["github", "backfill", "nobody"], env)
    assert unknown.exit_code == 1
    assert "not tracked" in unknown.output
    one = await asyncio.to_thread(run_cli, ["github", "backfill", "BACK0"], env)
    assert one.exit_code == 0, one.output
    assert "2 of 2 read(s)" in one.output
    rest = await asyncio.to_thread(run_cli, ["github", "backfill", "--all"], env)
    assert "2 of 2 read(s)" in rest.output  # only the other user's are left


@pytest.mark.parametrize("mode", ["rest"])
async def test_bad_asks_for_history_get_a_clear_error(
    client: httpx.AsyncClient, app: FastAPI, settings: Settings, github: FakeGitHub
) -> None:
    github.add_user(7020, "asked", repos=1)
    admin = await admin_headers(client, app)
    await track(client, admin, "asked")
    for path in ("/v1/users/7020/stats", "/v1/users/7020/stats.csv"):
        assert_error(await client.get(path, params={"include": "future"}, headers=admin), 400)
        backwards = {"date_from": TODAY.isoformat(), "date_to": YESTERDAY.isoformat()}
        assert_error(await client.get(path, params=backwards, headers=admin), 400)
        assert_error(await client.get(path), 401)
    assert_error(await client.get("/v1/users/999/stats.csv", headers=admin), 404)
    csv_ask = {**admin, "Accept": "text/csv"}
    assert_error(await client.get("/v1/users/999/stats", headers=csv_ask), 404)
