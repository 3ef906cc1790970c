"""Prometheus metrics: what each process counts, and how /metrics renders them.

Several processes share their figures through files in PROMETHEUS_MULTIPROC_DIR: the API's
processes (`imagehub api --workers N`), a worker's pool children, and under `imagehub serve`
the API, the worker and beat together, so the API's /metrics shows every one of them.
prometheus_client chooses that mode when it is first imported, so a process that must share
has the variable set before it starts (`serve` and `worker` see to it).
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client import multiprocess as prometheus_multiprocess
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

# Decided now, as prometheus_client decided it on its import just above.
SHARES_FILES = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))

# --- HTTP ---------------------------------------------------------------------------------

HTTP_REQUESTS = Counter(
    "imagehub_http_requests_total", "HTTP requests answered", ["method", "route", "status"]
)
# Fine below 25 ms, where a healthy API answers: a p50 read off these means something.
LATENCY_BUCKETS = (
    0.001, 0.0025, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.025,
    0.05, 0.075, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30,
)  # fmt: skip
HTTP_LATENCY = Histogram(
    "imagehub_http_request_duration_seconds",
    "Time to answer an HTTP request",
    ["method", "route"],
    buckets=LATENCY_BUCKETS,
)

# --- Jobs (counted in the worker processes) ---------------------------------------------

JOBS_STARTED = Counter("imagehub_jobs_started_total", "Jobs a worker began", ["task"])
JOBS_SUCCEEDED = Counter("imagehub_jobs_succeeded_total", "Jobs that ended well", ["task"])
JOBS_FAILED = Counter("imagehub_jobs_failed_total", "Jobs that raised and gave up", ["task"])
JOBS_RETRIED = Counter("imagehub_jobs_retried_total", "Jobs sent again to retry", ["task"])
JOB_DURATION = Histogram(
    "imagehub_job_duration_seconds",
    "Time a worker spent on a job, whatever its outcome",
    ["task"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300),
)
IMAGE_JOB_STAGES = Histogram(
    "imagehub_image_job_stage_seconds",
    "Time an image job spent in each of its stages: read, start, finish and handoff once a "
    "job, fetch, pipeline and the stores once an image (handoff: from the moment both the "
    "job and a free worker process existed to the job's start; the broker's round trip)",
    ["stage"],
    buckets=LATENCY_BUCKETS,
)
IMAGES_PROCESSED = Counter(
    "imagehub_images_processed_total",
    "Images a worker finished, by format (JPEG, PNG) and outcome (done, failed)",
    ["format", "outcome"],
)
JOBS_RESENT = Counter(
    "imagehub_sweep_jobs_resent_total",
    "Images whose jobs the stall sweep found lost and sent again",
)

# --- GitHub --------------------------------------------------------------------------------

GITHUB_REQUESTS = Counter(
    "imagehub_github_requests_total",
    "Requests sent to GitHub, by outcome (ok, not_modified, redirected, not_found, rate_limited, "
    "server_error, unreachable, other)",
    ["outcome"],
)
GITHUB_QUOTA = Gauge(
    "imagehub_github_quota_remaining",
    "Requests left in the current GitHub rate-limit window, as GitHub last said",
    multiprocess_mode="mostrecent",
)
GITHUB_USERS = Counter(
    "imagehub_github_users_total",
    "Tracked users a scan reached, by outcome (scanned, deferred, failed, skipped)",
    ["outcome"],
)


class AllMetrics(Collector):
    """This process's figures, or every process's that shares the files, and `extra`
    collectors asked at each scrape (the queue's depth)."""

    def __init__(self, *extra: Collector) -> None:
        self.extra = extra

    def collect(self) -> Iterable[Metric]:
        families: list[Metric] = []
        directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
        if directory:
            files = prometheus_multiprocess.MultiProcessCollector(None, path=directory)  # type: ignore[no-untyped-call]
            families.extend(files.collect())  # type: ignore[no-untyped-call]
        if not SHARES_FILES:
            # This process's own figures are not in the files (it began counting before
            # they were set up): add them, less the families the files already hold.
            taken = {family.name for family in families}
            families.extend(f for f in REGISTRY.collect() if f.name not in taken)
        for collector in self.extra:
            families.extend(collector.collect())
        return families


def registry_of(collector: Collector) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    return registry


def render_metrics(*extra: Collector) -> tuple[bytes, str]:
    return generate_latest(registry_of(AllMetrics(*extra))), CONTENT_TYPE_LATEST
