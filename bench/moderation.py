"""Benchmark: moderation queries at a million images, through the HTTP API, on PostgreSQL.

    .venv/bin/python bench/moderation.py [--images 1000000] [--groups 30000] [--seconds 15]

Loads images into groups of realistic, skewed sizes (most a few dozen, a few thousands;
statuses and dates spread over a year) with COPY, starts `imagehub api --workers 2` on
127.0.0.1, and measures with wrk (apt-get install wrk), N concurrent connections for S seconds
after a warm-up, p50/p99 latency at the client, p50 at the server (the API's own histogram)
and requests per second for: a groups page, the same filtered by
status, deep pagination (page 500), both statistics endpoints, and status updates. In the
same run it measures a baseline doing the same work the simple way (fetch the rows, group
and count in Python) and prints the ratio. Finally the query plans (EXPLAIN ANALYZE).
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
from prometheus_client.parser import text_string_to_metric_families

sys.path.insert(0, str(Path(__file__).parents[1]))

ADMIN_URL = os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
DATABASE = "imagehub_bench"
STATUSES = ["new", "review", "accepted", "deleted"]
WEIGHTS = [0.4, 0.2, 0.3, 0.1]


def database_url() -> str:
    return ADMIN_URL.rsplit("/", 1)[0] + f"/{DATABASE}"


def group_sizes(images: int, groups: int, rng: random.Random) -> list[int]:
    """Mostly a few dozen, a long tail, a handful of groups with thousands."""
    raw = [rng.lognormvariate(3.2, 0.7) for _ in range(groups)]
    for index in rng.sample(range(groups), 12):
        raw[index] = rng.uniform(2000, 6000)
    scale = images / sum(raw)
    sizes = [max(1, round(value * scale)) for value in raw]
    sizes[0] += images - sum(sizes)
    return sizes


def load(images: int, groups: int) -> None:
    from imagehub.core import migrate

    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
        admin.execute(f"CREATE DATABASE {DATABASE}")
    migrate.upgrade(database_url())
    rng = random.Random(7)
    now = datetime.now(UTC)
    started = time.perf_counter()
    with psycopg.connect(database_url()) as connection:
        with connection.cursor() as cursor:
            with cursor.copy("COPY groups (id, name, created_at) FROM STDIN") as copy:
                for group_id in range(1, groups + 1):
                    copy.write_row((group_id, f"group-{group_id:05d}", now - timedelta(days=366)))
            buffer = io.StringIO()
            image_id = 0
            with cursor.copy(
                "COPY images (id, group_id, url, status, created_at, changed_at) FROM STDIN"
            ) as copy:
                for group_id, size in enumerate(group_sizes(images, groups, rng), start=1):
                    for _ in range(size):
                        image_id += 1
                        created = now - timedelta(seconds=rng.uniform(0, 365 * 86400))
                        changed = created
                        if rng.random() < 0.6:
                            later = created + timedelta(seconds=rng.uniform(0, 90 * 86400))
                            changed = min(later, now)
                        status = rng.choices(STATUSES, WEIGHTS)[0]
                        url = f"https://images.example.com/{group_id}/{image_id}.jpg"
                        copy.write_row((image_id, group_id, url, status, created, changed))
            del buffer
            cursor.execute("SELECT setval(pg_get_serial_sequence('groups', 'id'), %s)", (groups,))
            cursor.execute("SELECT setval(pg_get_serial_sequence('images', 'id'), %s)", (image_id,))
        connection.commit()
    # COPY went around the service: rebuild the day counts the statistics read, as an
    # operator would after a bulk load (`imagehub moderation recount`).
    from imagehub.core.db import Database
    from imagehub.moderation import service as moderation

    database = Database(database_url())
    with database.transaction() as session:
        moderation.recount(session)
    database.dispose()
    with psycopg.connect(database_url(), autocommit=True) as connection:
        connection.execute("VACUUM ANALYZE")
    print(f"loaded {images:,} images in {groups:,} groups in {time.perf_counter() - started:.0f} s")


# --- The API under load ---------------------------------------------------------------------


def start_api(port: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "IMAGEHUB_DATABASE_URL": database_url(),
        "IMAGEHUB_BROKER_URL": "redis://127.0.0.1:6379/13",
        "IMAGEHUB_SECRET_KEY": "bench-" + "s" * 40,
        "IMAGEHUB_LOG_LEVEL": "WARNING",
        "IMAGEHUB_PORT": str(port),
        "IMAGEHUB_LOGIN_MAX_FAILURES": "1000",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "imagehub", "api", "--workers", "2"],
        env=env,
        stdout=subprocess.DEVNULL,
    )


async def moderator_token(base: str) -> str:
    account = {"email": "bench@example.com", "password": "password123"}
    async with httpx.AsyncClient(base_url=base) as client:
        await client.post("/registration", json=account)
        promote = ["user", "promote", account["email"], "--role", "moderator"]
        env = {**os.environ, "IMAGEHUB_DATABASE_URL": database_url()}
        await asyncio.to_thread(
            subprocess.run, [sys.executable, "-m", "imagehub", *promote], env=env, check=True
        )
        token: str = (await client.post("/login", json=account)).json()["access_token"]
    return token


# A wrk script: the request to send, drawn afresh each time (a random image and status for
# updates). Globals set by the bench are substituted before wrk reads it.
WRK_SCRIPT = """
local statuses = {"new", "review", "accepted", "deleted"}
local headers = {["Authorization"] = "Bearer TOKEN", ["Content-Type"] = "application/json"}
math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16))
request = function()
  if "METHOD" == "PUT" then
    local body = '{"status":"' .. statuses[math.random(1, 4)] .. '"}'
    return wrk.format("PUT", "PATH" .. math.random(1, MAX_IMAGE), headers, body)
  end
  return wrk.format("GET", "PATH", headers)
end
"""


def bulk_against_single(base: str, token: str, images: int, rounds: int = 3) -> None:
    """500 status changes as 500 requests (one connection, one after another, keep-alive)
    against one `PUT /images/status` of the same 500, alternating, each round on fresh ids."""
    rng = random.Random(7)
    headers = {"Authorization": f"Bearer {token}"}
    singles, bulks = [], []
    with httpx.Client(base_url=base, headers=headers, timeout=120) as client:
        for round_number in range(rounds):
            ids = rng.sample(range(1, images + 1), 1000)
            status = STATUSES[round_number % 4]
            started = time.perf_counter()
            for image_id in ids[:500]:
                client.put(f"/images/{image_id}", json={"status": status}).raise_for_status()
            singles.append(time.perf_counter() - started)
            started = time.perf_counter()
            client.put(
                "/images/status", json={"ids": ids[500:], "status": status}
            ).raise_for_status()
            bulks.append(time.perf_counter() - started)
    single, bulk = statistics.median(singles), statistics.median(bulks)
    print(
        f"\n500 status changes at {images:,} images, median of {rounds}: 500 single requests "
        f"{single * 1000:.0f} ms ({500 / single:,.0f} images/s); one bulk request "
        f"{bulk * 1000:.0f} ms ({500 / bulk:,.0f} images/s): {single / bulk:.1f}x the throughput"
    )


def server_latencies(base: str) -> dict[tuple[str, str], list[tuple[float, float]]]:
    """The API's own request-duration histogram: (method, route) -> cumulative buckets."""
    histogram: dict[tuple[str, str], list[tuple[float, float]]] = defaultdict(list)
    text = httpx.get(f"{base}/metrics").text
    for family in text_string_to_metric_families(text):
        if family.name != "imagehub_http_request_duration_seconds":
            continue
        for sample in family.samples:
            if sample.name.endswith("_bucket"):
                key = (sample.labels["method"], sample.labels["route"])
                histogram[key].append((float(sample.labels["le"]), sample.value))
    return {key: sorted(buckets) for key, buckets in histogram.items()}


def histogram_p50(before: list[tuple[float, float]], after: list[tuple[float, float]]) -> float:
    """Median (ms) of the requests between two readings, interpolated inside its bucket."""
    earlier = dict(before)
    counts = [(le, total - earlier.get(le, 0)) for le, total in after]
    half, lower, below = counts[-1][1] / 2, 0.0, 0.0
    for le, cumulative in counts:
        if cumulative >= half:
            share = (half - below) / (cumulative - below) if cumulative > below else 1
            upper = le if le != float("inf") else lower
            return (lower + (upper - lower) * share) * 1000
        lower, below = le, cumulative
    return float("nan")


def load_test(
    base: str,
    token: str,
    request: tuple[str, str, str],
    connections: int,
    seconds: float,
    max_image: int,
) -> dict[str, float]:
    """Run wrk (C, outside the API's processes, so the client costs the server little CPU)
    for `seconds` after a 2 s warm-up; latency at the client and, from the API's metrics,
    at the server."""
    method, path, route = request
    script = (
        WRK_SCRIPT.replace("TOKEN", token)
        .replace("METHOD", method)
        .replace("PATH", path)
        .replace("MAX_IMAGE", str(max_image))
    )
    with tempfile.NamedTemporaryFile("w", suffix=".lua") as file:
        file.write(script)
        file.flush()

        def wrk(duration: float) -> str:
            command = [
                "wrk", f"-c{connections}", f"-t{min(connections, 2)}", f"-d{duration:.0f}s",
                "--latency", "-s", file.name, base,
            ]  # fmt: skip
            return subprocess.run(command, capture_output=True, text=True, check=True).stdout

        wrk(2)
        before = server_latencies(base)
        output = wrk(seconds)
        after = server_latencies(base)

    def number(pattern: str) -> float:
        match = re.search(pattern, output)
        return float(match.group(1)) if match else 0.0

    def millis(label: str) -> float:
        match = re.search(rf"{label}\s+([\d.]+)(us|ms|s)\b", output)
        assert match, output
        return float(match.group(1)) * {"us": 0.001, "ms": 1, "s": 1000}[match.group(2)]

    key = (method, route)
    return {
        "p50": millis("50%"),
        "p99": millis("99%"),
        "rps": number(r"Requests/sec:\s+([\d.]+)"),
        "failures": number(r"Non-2xx or 3xx responses: (\d+)"),
        "server_p50": histogram_p50(before.get(key, []), after[key]),
    }


def deep_cursor(page: int, limit: int) -> str:
    from imagehub.core import pagination

    with psycopg.connect(database_url()) as connection:
        row = connection.execute(
            "SELECT id FROM groups ORDER BY id DESC OFFSET %s LIMIT 1", ((page - 1) * limit - 1,)
        ).fetchone()
    assert row is not None
    return pagination.encode("groups:*:changed_at", row[0])


# --- The simple way, for the ratio ------------------------------------------------------------


def baseline_groups_page(status: str | None, limit: int = 50) -> float:
    """Fetch every image with its group, then filter, group, count, sort in Python."""
    started = time.perf_counter()
    with psycopg.connect(database_url()) as connection:
        rows = connection.execute(
            "SELECT g.id, g.name, i.id, i.url, i.status, i.created_at, i.changed_at "
            "FROM groups g JOIN images i ON i.group_id = g.id"
        ).fetchall()
    groups: dict[int, dict[str, Any]] = defaultdict(lambda: {"images": [], "total": 0})
    for group_id, name, image_id, url, image_status, created, changed in rows:
        group = groups[group_id]
        group["name"] = name
        group["total"] += 1
        if status is None or image_status == status:
            group["images"].append((changed, image_id, url, image_status, created))
    page = []
    for group_id in sorted(groups, reverse=True):
        group = groups[group_id]
        if group["images"]:
            group["images"].sort(reverse=True)
            page.append((group_id, group))
        if len(page) == limit:
            break
    return time.perf_counter() - started


def baseline_stats(column: str, days: int = 30) -> float:
    started = time.perf_counter()
    since = datetime.now(UTC) - timedelta(days=days)
    with psycopg.connect(database_url()) as connection:
        rows = connection.execute(f"SELECT status, {column} FROM images").fetchall()  # noqa: S608
    Counter(status for status, moment in rows if moment >= since)
    return time.perf_counter() - started


def explain(sql: str, *params: Any) -> str:
    with psycopg.connect(database_url()) as connection:
        plan = connection.execute("EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) " + sql, params)
        return "\n".join(row[0] for row in plan.fetchall())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=1_000_000)
    parser.add_argument("--groups", type=int, default=30_000)
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--skip-load", action="store_true", help="reuse the loaded database")
    parser.add_argument(
        "--bulk-only", action="store_true", help="only 500 single changes against one bulk one"
    )
    args = parser.parse_args()

    if args.skip_load:
        from imagehub.core import migrate

        migrate.upgrade(database_url())  # the loaded database, brought up to this code's schema
    else:
        load(args.images, args.groups)
    from tests.conftest import free_port

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    api = start_api(port)
    try:
        for _ in range(100):
            try:
                if httpx.get(f"{base}/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        token = asyncio.run(moderator_token(base))
        bulk_against_single(base, token, args.images)
        if args.bulk_only:
            return
        deep_page = min(500, args.groups // 50 - 1)  # page 500 at 30,000 groups
        cursor = deep_cursor(deep_page, 50)
        # name -> (method, path, route template as the metrics label it)
        scenarios = {
            "groups page": ("GET", "/groups?limit=50", "/groups"),
            "groups page, status=review": ("GET", "/groups?status=review&limit=50", "/groups"),
            f"groups page {deep_page}": ("GET", f"/groups?limit=50&cursor={cursor}", "/groups"),
            "/images/stats/?days=30": ("GET", "/images/stats/?days=30", "/images/stats/"),
            "/statistics?days=30": ("GET", "/statistics?days=30", "/statistics"),
            "status update": ("PUT", "/images/", "/images/{image_id}"),
        }
        print(
            f"\nHTTP load from wrk, {args.connections} connections for {args.seconds:.0f} s each "
            f"after a 2 s warm-up, on 127.0.0.1 (API: 2 processes). Client-side p50/p99;\n"
            f"'server p50' is the API's own request time from its /metrics histogram; "
            f"'alone' is one connection, one request at a time."
        )
        print(
            f"{'request':<28} {'p50 ms':>8} {'p99 ms':>8} {'req/s':>8} {'errors':>7}"
            f" {'server p50':>10} {'alone p50':>9} {'alone server':>12}"
        )
        results = {}
        for name, request in scenarios.items():
            result = load_test(base, token, request, args.connections, args.seconds, args.images)
            alone = load_test(base, token, request, 1, min(args.seconds, 5), args.images)
            result["alone_p50"] = alone["p50"]
            result["alone_server_p50"] = alone["server_p50"]
            results[name] = result
            print(
                f"{name:<28} {result['p50']:8.1f} {result['p99']:8.1f} {result['rps']:8.0f} "
                f"{result['failures']:7.0f} {result['server_p50']:10.1f} {alone['p50']:9.1f} "
                f"{alone['server_p50']:12.1f}"
            )
    finally:
        api.terminate()
        api.wait(30)

    print("\nbaseline (fetch rows, group and count in Python), one request at a time, median of 3:")
    cases: tuple[tuple[str, Callable[[], float], str], ...] = (
        ("groups page", lambda: baseline_groups_page(None), "groups page"),
        (
            "groups page, status=review",
            lambda: baseline_groups_page("review"),
            "groups page, status=review",
        ),
        ("/images/stats/?days=30", lambda: baseline_stats("changed_at"), "/images/stats/?days=30"),
        ("/statistics?days=30", lambda: baseline_stats("created_at"), "/statistics?days=30"),
    )
    for name, run, ours in cases:
        seconds = statistics.median(run() for _ in range(3))
        ratio = seconds * 1000 / results[ours]["alone_p50"]
        print(
            f"{name:<28} {seconds * 1000:8.0f} ms  -> ours (one request at a time) is "
            f"{ratio:,.0f}x faster at p50"
        )

    since = datetime.now(UTC) - timedelta(days=30)
    print("\nquery plans:")
    for title, sql, params in (
        ("groups page (ids)", "SELECT id, name FROM groups ORDER BY id DESC LIMIT 51", ()),
        (
            "groups page, status filter (ids)",
            "SELECT g.id FROM groups g WHERE EXISTS (SELECT 1 FROM images i "
            "WHERE i.group_id = g.id AND i.status = 'review') ORDER BY g.id DESC LIMIT 51",
            (),
        ),
        (
            "images of a page's groups",
            "SELECT * FROM images WHERE group_id IN "
            "(SELECT id FROM groups ORDER BY id DESC LIMIT 50) "
            "ORDER BY group_id DESC, changed_at DESC, id DESC",
            (),
        ),
        (
            "statistics by changed_at: whole days from the day counts",
            "SELECT status, sum(count) FROM image_day_counts WHERE kind = 'changed' "
            "AND day >= %s GROUP BY status",
            ((since + timedelta(days=1)).date(),),
        ),
        (
            "statistics by changed_at: the first, partial day from the images",
            "SELECT status, count(*) FROM images WHERE changed_at >= %s AND changed_at < %s "
            "GROUP BY status",
            (since, datetime.combine((since + timedelta(days=1)).date(), datetime.min.time(), UTC)),
        ),
    ):
        print(f"-- {title}\n{explain(sql, *params)}\n")


if __name__ == "__main__":
    main()
