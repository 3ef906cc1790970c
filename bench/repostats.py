"""Benchmark: the daily GitHub scan against the local fake GitHub, with latency per request.

    .venv/bin/python bench/repostats.py [--users 1000] [--repos 30] [--big-users 3]
        [--big-repos 500] [--latency 0.05] [--modes graphql,rest] [--rest-per-minute 100000]

The fake (tests/repostats/fake_github.py, GitHub's schema and OpenAPI description; REST
payloads checked once per route here, every time in the tests) runs in a process of its own
and counts requests and quota at the server. Users are tracked straight in a fresh SQLite
database, so the scans are all that talk to it. For each mode, a first scan and a second one
with nothing changed, through `run_scan` as the Celery task runs it, against the minimum
possible: one request per 100 repositories per user in GraphQL mode; one list page per 100
repositories plus one request per repository in REST mode. Both modes use a token, so REST's
second scan should cost no quota at all: every list page and repository answers a free 304.

GraphQL runs at the default ceiling (1,800 requests a minute: a thousand users cannot take
less than ~34 s). REST at its default ceiling (800 a minute) would spend 40 minutes on the
first scan, so the benchmark raises it (--rest-per-minute) and prints what the default would
take; GitHub's hourly quota (5,000 with a token), not the scanner, is REST's real bound.

    .venv/bin/python bench/repostats.py --backfill [--users 1000] [--repos 30]
        [--big-stars 100000] [--big-forks 2000] [--latency 0.05] [--part typical|big|both]

The history backfill, as the Celery task runs it (`run_backfill`, default settings, a
token), behind a first scan: (a) every user's repositories of typical size (the fake's
10-39 stars and 0-6 forks), against the minimum of one page per list with anything in it
(the scan's counts tell an empty one, which costs no request); (b) one repository with
`--big-stars` stars on a curve with a viral spike, past GitHub's cap of 400 REST pages,
with the default newest-end budget and with one that lets the ends meet. Requests against
the minimum (in (b): 400 REST pages, the 422 that says the cap is reached, the GraphQL
pages from the newest end, the forks' pages); wall time against a bare client asking for
the same pages at the same pace and concurrency in the same run (nothing stored); and in
(b) the reconstruction against the fake's true history.
"""

from __future__ import annotations

import argparse
import math
import multiprocessing
import random
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, TypeVar

sys.path.insert(0, str(Path(__file__).parents[1]))

TOKEN = "ghp_" + "b" * 36


@dataclass
class Population:
    users: int
    repos: int
    big_users: int
    big_repos: int

    def sizes(self) -> list[int]:
        """Repositories per user, the big ones spread through the list."""
        sizes = [self.repos] * self.users
        for k in range(self.big_users):
            sizes[(k * self.users) // max(1, self.big_users)] = self.big_repos
        return sizes


@dataclass
class BigRepo:
    """One repository's true history: its stargazers and forks by when they came."""

    stars: int
    forks: int
    ends: datetime  # fixed once: the fake's process and the benchmark's draw the same times

    def times(self) -> tuple[list[datetime], list[datetime]]:
        """Eight years of growth, faster each year, and a day on a front page (a tenth of
        all stars in a week) in year five: a curve a straight line does not follow."""
        begins = datetime(2018, 6, 1, tzinfo=UTC)
        span = (self.ends - begins).total_seconds()
        generator = random.Random(18)

        def moments(count: int, spike: float) -> list[datetime]:
            spiked = int(count * spike)
            steady = [span * math.sqrt(generator.random()) for _ in range(count - spiked)]
            burst = [span * 0.55 + generator.expovariate(1 / 86_400) for _ in range(spiked)]
            return sorted(begins + timedelta(seconds=min(t, span)) for t in steady + burst)

        return moments(self.stars, 0.1), moments(self.forks, 0.02)


def serve_fake(
    population: Population, latency: float, commands: Connection, big: BigRepo | None = None
) -> None:
    """The fake GitHub's own process: answers the benchmark's commands over a pipe."""
    from tests.repostats.fake_github import FakeGitHub

    fake = FakeGitHub()
    for index, size in enumerate(population.sizes()):
        fake.add_user(index + 1, f"user{index + 1:05d}", repos=size)
    if big is not None:
        owner = fake.add_user(population.users + 1, "famous", repos=1)
        fake.give_history(owner.repos[0], *big.times())
    fake.latency = latency
    fake.quota = fake.remaining = 10**9  # spent quota is counted, never refused here
    fake.validate_every_payload = False
    fake.start()
    commands.send(fake.url)
    while True:
        command = commands.recv()
        if command == "counters":
            commands.send((fake.requests, fake.quota_spent, fake.not_modified, fake.violations))
        elif command == "reset":
            fake.requests = fake.quota_spent = fake.not_modified = 0
            commands.send(True)
        else:
            fake.stop()
            commands.send(True)
            return


class FakeProcess:
    def __init__(self, population: Population, latency: float, big: BigRepo | None = None):
        context = multiprocessing.get_context("spawn")
        self._pipe, child = context.Pipe()
        self._process = context.Process(
            target=serve_fake, args=(population, latency, child, big), daemon=True
        )
        self._process.start()
        self.url: str = self._pipe.recv()

    def ask(self, command: str) -> Any:
        self._pipe.send(command)
        return self._pipe.recv()

    def stop(self) -> None:
        self.ask("stop")
        self._process.join(10)


def track_everyone(database_url: str, population: Population, extra: int = 0) -> None:
    import sqlalchemy as sa

    from imagehub.core import migrate
    from imagehub.core.db import create_engine, utcnow
    from imagehub.repostats.models import GithubUser

    migrate.upgrade(database_url)
    rows = [
        {
            "id": n,
            "login": f"user{n:05d}" if n <= population.users else "famous",
            "name": None,
            "node_id": f"U_{n}",
            "tracked_at": utcnow(),
        }
        for n in range(1, population.users + 1 + extra)
    ]
    engine = create_engine(database_url)
    with engine.begin() as connection:
        connection.execute(sa.insert(GithubUser), rows)
    engine.dispose()


def minimum_requests(mode: str, sizes: list[int]) -> int:
    pages = sum(max(1, math.ceil(size / 100)) for size in sizes)
    return pages if mode == "graphql" else pages + sum(sizes)


@dataclass
class Scan:
    seconds: float
    requests: int
    quota: int
    not_modified: int
    scanned: int
    failed: int


R = TypeVar("R")


def measured(fake: FakeProcess, work: Callable[[], R]) -> tuple[R, float, tuple[int, int, int]]:
    """What `work` returned, its wall seconds, and what the fake counted meanwhile:
    requests, quota spent and 304s."""
    fake.ask("reset")
    started = time.perf_counter()
    result = work()
    seconds = time.perf_counter() - started
    requests, quota, not_modified, violations = fake.ask("counters")
    if violations:
        raise SystemExit(f"the fake broke GitHub's descriptions: {violations[:3]}")
    return result, seconds, (requests, quota, not_modified)


def scan(fake: FakeProcess, settings: Any) -> Scan:
    from imagehub.repostats.scan import run_scan

    report, seconds, counted = measured(fake, lambda: run_scan(settings, due_now=False))
    return Scan(seconds, *counted, report.scanned, len(report.failed))


def run_mode(mode: str, fake: FakeProcess, population: Population, args: Any) -> None:
    from imagehub.core.config import Settings

    folder = Path(tempfile.mkdtemp(prefix=f"bench-repostats-{mode}-"))
    database_url = f"sqlite:///{folder / 'bench.db'}"
    track_everyone(database_url, population)
    per_minute = {"github_rest_per_minute": args.rest_per_minute} if mode == "rest" else {}
    settings = Settings(
        _env_file=None, data_dir=folder, secret_key="b" * 40, database_url=database_url,
        github_api_url=fake.url, github_token=TOKEN, github_mode=mode, **per_minute,
    )  # fmt: skip
    sizes = population.sizes()
    minimum = minimum_requests(mode, sizes)
    rate = (settings.github_graphql_per_minute if mode == "graphql" else args.rest_per_minute) / 60
    # The least wall time the ceilings allow: the pace (after a second's burst), or the
    # latency over the connections.
    burst = max(1.0, rate)
    floor = max((minimum - burst) / rate, minimum * args.latency / settings.github_concurrency)

    first = scan(fake, settings)
    second = scan(fake, settings)
    print(
        f"\n{mode}: {population.users} users, {sum(sizes)} repositories; minimum {minimum} "
        f"requests; ceiling {rate * 60:.0f}/min, {settings.github_concurrency} in flight, "
        f"{args.latency * 1000:.0f} ms latency"
    )
    print(f"{'scan':<8}{'wall s':>9}{'floor s':>9}{'x floor':>9}{'requests':>10}{'x min':>8}"
          f"{'quota':>8}{'x min':>8}{'304s':>8}{'users':>7}{'failed':>7}")  # fmt: skip
    for name, result in (("first", first), ("second", second)):
        print(
            f"{name:<8}{result.seconds:>9.1f}{floor:>9.1f}{result.seconds / floor:>9.2f}"
            f"{result.requests:>10}{result.requests / minimum:>8.3f}"
            f"{result.quota:>8}{result.quota / minimum:>8.3f}{result.not_modified:>8}"
            f"{result.scanned:>7}{result.failed:>7}"
        )
    print(
        f"second scan's quota: {second.quota} ({second.quota / max(1, first.quota):.1%} of the "
        f"first's {first.quota}); 304s: {second.not_modified} of {second.requests} requests"
    )
    if mode == "rest":
        default = Settings(_env_file=None).github_rest_per_minute
        print(f"at the default ceiling ({default}/min) the first scan would take "
              f"{first.requests / default:.0f} min; GitHub's 5,000 an hour make it "
              f"{first.quota / 5000:.1f} h of a token's quota")  # fmt: skip


def bench_settings(fake: FakeProcess, folder: Path, **options: Any) -> Any:
    from imagehub.core.config import Settings

    return Settings(
        _env_file=None, data_dir=folder, secret_key="b" * 40,
        database_url=f"sqlite:///{folder / 'bench.db'}", github_api_url=fake.url,
        github_token=TOKEN, **options,
    )  # fmt: skip


def backfill(fake: FakeProcess, settings: Any) -> tuple[Any, float, int]:
    """A backfill of everyone, as the task runs it (not behind the scan: it is done)."""
    from imagehub.repostats.backfill import run_backfill

    report, seconds, (requests, _, _) = measured(
        fake, lambda: run_backfill(settings, behind_scan=False)
    )
    if report.failed or report.stopped:
        raise SystemExit(f"the backfill did not finish: {report.stopped} {report.failed[:3]}")
    return report, seconds, requests


def bare_pages(
    fake: FakeProcess, settings: Any, urls: list[str], chain: tuple[str, int] | None = None
) -> float:
    """The baseline: the least a client can do, against the same fake in the same run, at
    the same pace and as many in flight as the settings allow. These REST pages, and
    beside them (a repository's name and a page count) that many GraphQL pages newest
    first, each after the one before; nothing stored. Its wall time in seconds."""
    import asyncio

    import httpx

    from imagehub.repostats.github import NEWEST_QUERY, STAR_MEDIA_TYPE, pace_limiter

    in_flight = settings.github_concurrency

    async def run() -> float:
        headers = {"Authorization": f"Bearer {TOKEN}", "Accept": STAR_MEDIA_TYPE}
        limits = httpx.Limits(max_connections=in_flight)
        gate = asyncio.Semaphore(in_flight)
        pace = pace_limiter(settings.github_graphql_per_minute)  # a token: GraphQL's pace
        async with httpx.AsyncClient(base_url=fake.url, headers=headers, limits=limits) as http:

            async def send(method: str, url: str, **options: Any) -> httpx.Response:
                async with gate:
                    await pace.acquire()
                    return await http.request(method, url, **options)

            async def newest(full_name: str, pages: int) -> None:
                owner, _, name = full_name.partition("/")
                cursor = None
                for _ in range(pages):
                    variables = {"owner": owner, "name": name, "after": cursor, "stars": True}
                    body = {
                        "query": NEWEST_QUERY,
                        "operationName": "Newest",
                        "variables": variables,
                    }
                    answer = (await send("POST", "/graphql", json=body)).json()
                    cursor = answer["data"]["repository"]["stars"]["pageInfo"]["endCursor"]

            started = time.perf_counter()
            chained = [newest(*chain)] if chain else []
            await asyncio.gather(*(send("GET", u) for u in urls), *chained)
            return time.perf_counter() - started

    return asyncio.run(run())


def bench_typical(population: Population, args: Any) -> None:
    from imagehub.repostats.scan import run_scan

    fake = FakeProcess(population, args.latency)
    try:
        folder = Path(tempfile.mkdtemp(prefix="bench-backfill-"))
        # The pace raised as for REST's scan: at the default ceiling the pace alone decides.
        settings = bench_settings(fake, folder, github_graphql_per_minute=args.rest_per_minute)
        track_everyone(settings.effective_database_url, population)
        run_scan(settings, due_now=False)
        report, seconds, requests = backfill(fake, settings)
        # The lists with anything in them (the fake's repository n has 10 + n stars and
        # n % 7 forks): one page each. An empty one costs nothing; the scan said so.
        urls = [
            f"/repos/user{u:05d}/repo-{n:04d}/{kind}per_page=100"
            for u in range(1, population.users + 1)
            for n in range(population.repos)
            for kind, count in (("stargazers?", 10 + n), ("forks?sort=oldest&", n % 7))
            if count
        ]
        baseline = bare_pages(fake, settings, urls)
    finally:
        fake.stop()
    repos = population.users * population.repos
    minimum = len(urls)
    default = bench_settings(fake, folder).github_graphql_per_minute
    print(
        f"\n(a) backfill of {population.users} users x {population.repos} repositories "
        f"({repos} repositories, {report.reads} lists), {settings.github_concurrency} in "
        f"flight, {args.latency * 1000:.0f} ms latency: {requests} requests "
        f"({requests / minimum:.3f}x the minimum {minimum}), {seconds:.1f} s, "
        f"{seconds / baseline:.2f}x the bare client's {baseline:.1f} s for the same pages; "
        f"at the default ceiling ({default}/min) the pace alone takes {minimum / default:.0f} "
        f"min, GitHub's 5,000 an hour {minimum / 5000:.1f} h"
    )


def daily_truth(times: list[datetime], through: date) -> dict[date, int]:
    counts: dict[date, int] = {}
    for moment in times:
        counts[moment.date()] = counts.get(moment.date(), 0) + 1
    day, total, truth = min(counts), 0, {}
    while day <= through:
        total += counts.get(day, 0)
        truth[day] = total
        day += timedelta(days=1)
    return truth


def reconstructed_days(settings: Any, user_id: int, through: date) -> dict[date, tuple[int, str]]:
    """The user's reconstructed days as the API serves them: (stars, source) by day."""
    from imagehub.core.db import AsyncDatabase, run_async
    from imagehub.repostats import service

    async def read(database: AsyncDatabase) -> list[service.StatsRow]:
        async with database.transaction() as session:
            _, rows = await service.stats_rows(
                session, user_id, date(2000, 1, 1), through, with_history=True
            )
            return rows

    rows = run_async(settings.effective_database_url, read)
    return {row.day: (row.stargazers, row.source) for row in rows}


def bench_big(args: Any) -> None:
    from imagehub.repostats.scan import run_scan

    big = BigRepo(args.big_stars, args.big_forks, datetime.now(UTC) - timedelta(days=2))
    star_times, _ = big.times()
    nobody = Population(0, 0, 0, 0)
    fake = FakeProcess(nobody, args.latency, big)
    try:
        for budget in (None, math.ceil(args.big_stars / 100)):
            folder = Path(tempfile.mkdtemp(prefix="bench-backfill-big-"))
            options = {} if budget is None else {"github_history_newest_pages": budget}
            settings = bench_settings(fake, folder, **options)
            track_everyone(settings.effective_database_url, nobody, extra=1)
            run_scan(settings, due_now=False)
            _, seconds, requests = backfill(fake, settings)
            pages = settings.github_history_newest_pages
            rest = min(400, math.ceil(args.big_stars / 100))
            # The 422 after page 400, then newest first until the ends meet (or the budget),
            # and the forks' pages (a full last one asks for the next to see the end).
            newest = min(pages, math.ceil(max(0, args.big_stars - rest * 100) / 100))
            forks = math.ceil(args.big_forks / 100) + (args.big_forks % 100 == 0)
            minimum = rest + 1 + newest + forks
            urls = [
                f"/repos/famous/repo-0000/{kind}&page={n}"
                for kind, pages in (("stargazers?per_page=100", rest + 1),
                                    ("forks?sort=oldest&per_page=100", forks))
                for n in range(1, pages + 1)
            ]  # fmt: skip
            baseline = bare_pages(fake, settings, urls, ("famous/repo-0000", newest))
            through = datetime.now(UTC).date() - timedelta(days=1)
            days = reconstructed_days(settings, 1, through)  # the only user
            truth = daily_truth(star_times, through)
            estimated = [d for d, (_, source) in days.items() if source == "estimated"]
            errors = [abs(days[d][0] - truth[d]) for d in estimated]
            exact = all(days[d][0] == truth[d] for d in truth if d not in estimated)
            worst = max(errors, default=0)
            print(
                f"\n(b) one repository of {args.big_stars} stars, {args.big_forks} forks; "
                f"newest-end budget {pages} pages: {requests} requests ({requests / minimum:.3f}x "
                f"the minimum {minimum}), {seconds:.1f} s ({seconds / baseline:.2f}x the bare "
                f"client's {baseline:.1f} s); {len(estimated)} of {len(truth)} days estimated, "
                f"worst error {worst} stars ({worst / args.big_stars:.2%} of all), mean "
                f"{sum(errors) / max(1, len(errors)):.0f}; every other day exact: {exact}"
            )
    finally:
        fake.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--repos", type=int, default=30)
    parser.add_argument("--big-users", type=int, default=3)
    parser.add_argument("--big-repos", type=int, default=500)
    parser.add_argument("--latency", type=float, default=0.05, help="seconds per request")
    parser.add_argument("--modes", default="graphql,rest")
    parser.add_argument("--rest-per-minute", type=int, default=100_000)
    parser.add_argument("--backfill", action="store_true", help="the history backfill instead")
    parser.add_argument("--big-stars", type=int, default=100_000)
    parser.add_argument("--big-forks", type=int, default=2_000)
    parser.add_argument("--part", choices=("typical", "big", "both"), default="both")
    args = parser.parse_args()
    if args.backfill:
        if args.part in ("big", "both"):
            bench_big(args)
        if args.part in ("typical", "both"):
            bench_typical(Population(args.users, args.repos, 0, 0), args)
        return
    population = Population(args.users, args.repos, args.big_users, args.big_repos)

    fake = FakeProcess(population, args.latency)
    try:
        for mode in args.modes.split(","):
            run_mode(mode, fake, population, args)
    finally:
        fake.stop()


if __name__ == "__main__":
    main()
