"""Prometheus metrics of this process, and how /metrics renders them."""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client import multiprocess as prometheus_multiprocess

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


def render_metrics() -> tuple[bytes, str]:
    """The metrics of this process, or of all API processes when several share the port."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        prometheus_multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(), CONTENT_TYPE_LATEST
