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
"""

from __future__ import annotations

import argparse
import math
import multiprocessing
import sys
import tempfile
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

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


def serve_fake(population: Population, latency: float, commands: Connection) -> None:
    """The fake GitHub's own process: answers the benchmark's commands over a pipe."""
    from tests.repostats.fake_github import FakeGitHub

    fake = FakeGitHub()
    for index, size in enumerate(population.sizes()):
        fake.add_user(index + 1, f"user{index + 1:05d}", repos=size)
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
    def __init__(self, population: Population, latency: float) -> None:
        context = multiprocessing.get_context("spawn")
        self._pipe, child = context.Pipe()
        self._process = context.Process(
            target=serve_fake, args=(population, latency, child), daemon=True
        )
        self._process.start()
        self.url: str = self._pipe.recv()

    def ask(self, command: str) -> Any:
        self._pipe.send(command)
        return self._pipe.recv()

    def stop(self) -> None:
        self.ask("stop")
        self._process.join(10)


def track_everyone(database_url: str, population: Population) -> None:
    import sqlalchemy as sa

    from imagehub.core import migrate
    from imagehub.core.db import create_engine, utcnow
    from imagehub.repostats.models import GithubUser

    migrate.upgrade(database_url)
    rows = [
        {
            "id": n,
            "login": f"user{n:05d}",
            "name": None,
            "node_id": f"U_{n}",
            "tracked_at": utcnow(),
        }
        for n in range(1, population.users + 1)
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


def scan(fake: FakeProcess, settings: Any) -> Scan:
    from imagehub.repostats.scan import run_scan

    fake.ask("reset")
    started = time.perf_counter()
    report = run_scan(settings, due_now=False)
    seconds = time.perf_counter() - started
    requests, quota, not_modified, violations = fake.ask("counters")
    if violations:
        raise SystemExit(f"the fake broke GitHub's descriptions: {violations[:3]}")
    return Scan(seconds, requests, quota, not_modified, report.scanned, len(report.failed))


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--repos", type=int, default=30)
    parser.add_argument("--big-users", type=int, default=3)
    parser.add_argument("--big-repos", type=int, default=500)
    parser.add_argument("--latency", type=float, default=0.05, help="seconds per request")
    parser.add_argument("--modes", default="graphql,rest")
    parser.add_argument("--rest-per-minute", type=int, default=100_000)
    args = parser.parse_args()
    population = Population(args.users, args.repos, args.big_users, args.big_repos)

    fake = FakeProcess(population, args.latency)
    try:
        for mode in args.modes.split(","):
            run_mode(mode, fake, population, args)
    finally:
        fake.stop()


if __name__ == "__main__":
    main()
