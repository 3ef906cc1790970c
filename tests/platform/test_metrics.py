"""Job metrics as Prometheus reads them, after real workers did real work: through the
API's /metrics under `imagehub serve`, and from a production worker's own port."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import psutil
import pytest
from prometheus_client.parser import text_string_to_metric_families

from imagehub.core import migrate
from imagehub.core.jobs import celery_app, configure_celery
from tests.conftest import TEST_SECRET, free_port, make_settings
from tests.platform.processes import (
    healthy,
    imagehub_env,
    metrics_folder_of,
    stacks_on_failure,
    start_imagehub,
    start_serve,
    stop_process_tree,
    wait_for,
)
from tests.processing.images import corrupt_jpeg, jpeg, png

pytestmark = pytest.mark.slow

PROCESS_IMAGES = "processing.process_images"
STAGE_SECONDS = "imagehub_image_job_stage_seconds"


def _samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def _value(
    samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str
) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def _finished(base: str, headers: dict[str, str], task_id: str) -> bool:
    body = httpx.get(f"{base}/status/{task_id}", headers=headers, timeout=5).json()
    return body["status"] in ("done", "failed", "partial")


def test_serve_shows_the_workers_jobs_on_its_metrics(tmp_path: Path) -> None:
    base, process, log = start_serve(tmp_path)
    try:
        wait_for(lambda: healthy(base), 60, "/healthz", log)
        folder = metrics_folder_of(process.pid)
        account = {"email": "metrics@example.com", "password": "password123"}
        token = httpx.post(f"{base}/registration", json=account).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        files = [
            ("files", ("photo.jpg", jpeg(1200, 800), "image/jpeg")),
            ("files", ("logo.png", png(300, 200), "image/png")),
            ("files", ("broken.jpg", corrupt_jpeg(), "image/jpeg")),
        ]
        answer = httpx.post(f"{base}/upload", headers=headers, files=files, timeout=30)
        assert answer.status_code == 202, answer.text
        task_id = answer.json()["task_id"]
        wait_for(lambda: _finished(base, headers, task_id), 60, "the task to finish", log)

        response = httpx.get(f"{base}/metrics", timeout=10)
        assert response.status_code == 200
        samples = _samples(response.text)
        # Counted in the worker's pool children, shown by the API process.
        assert (
            _value(samples, "imagehub_images_processed_total", format="JPEG", outcome="done") == 1
        )
        assert _value(samples, "imagehub_images_processed_total", format="PNG", outcome="done") == 1
        assert (
            _value(samples, "imagehub_images_processed_total", format="JPEG", outcome="failed") == 1
        )
        # The three images are small enough to share one job.
        assert _value(samples, "imagehub_jobs_started_total", task=PROCESS_IMAGES) == 1
        assert _value(samples, "imagehub_jobs_succeeded_total", task=PROCESS_IMAGES) == 1
        assert _value(samples, "imagehub_job_duration_seconds_count", task=PROCESS_IMAGES) == 1
        assert _value(samples, "imagehub_job_duration_seconds_sum", task=PROCESS_IMAGES) > 0
        # The job's stages once, each image's once an image; the broken one stores nothing.
        job_stages = {"read": 1, "fetch": 3, "pipeline": 3, "store_rotated": 2, "finish": 1}
        for stage, count in job_stages.items():
            assert _value(samples, STAGE_SECONDS + "_count", stage=stage) == count, stage
        within_jobs = sum(  # the job's own stages ("store" holds each store_*)
            _value(samples, STAGE_SECONDS + "_sum", stage=stage)
            for stage in ("read", "start", "fetch", "pipeline", "store", "finish")
        )
        assert (
            0
            < within_jobs
            <= _value(samples, "imagehub_job_duration_seconds_sum", task=PROCESS_IMAGES)
        )
        # Heartbeats, at least the worker's first one.
        assert _value(samples, "imagehub_jobs_succeeded_total", task="health.heartbeat") >= 1
        # Asked of the (embedded) broker at the scrape: nothing waits now.
        assert _value(samples, "imagehub_queue_jobs_waiting", queue="celery") == 0
        assert ("imagehub_queue_jobs_waiting", frozenset({("queue", "celery")})) in samples
        # And the API's own figures are there too, once each.
        assert (
            _value(
                samples,
                "imagehub_http_requests_total",
                method="POST",
                route="/upload",
                status="202",
            )
            == 1
        )
        assert _value(samples, "imagehub_sweep_jobs_resent_total") == 0
        assert folder.is_dir()
    finally:
        stop_process_tree(process)
    assert not folder.exists()  # made by serve for this run, and removed with it


def _jobs_succeeded(url: str, task: str) -> float:
    samples = _samples(httpx.get(url, timeout=5).text)
    return _value(samples, "imagehub_jobs_succeeded_total", task=task)


def test_a_worker_serves_its_metrics_on_its_own_port(tmp_path: Path, redis_url: str) -> None:
    database_url = f"sqlite:///{tmp_path / 'worker.db'}"
    migrate.upgrade(database_url)
    port = free_port()
    env = imagehub_env(
        tmp_path,
        database_url=database_url,
        broker_url=redis_url,
        secret_key=TEST_SECRET,
        worker_metrics_port=str(port),
    )
    log = tmp_path / "worker.log"
    worker = start_imagehub(["worker", "--concurrency=2"], env, log)
    url = f"http://127.0.0.1:{port}/metrics"
    try:
        # The worker's first heartbeat (sent at start) shows up, counted in a child.
        with stacks_on_failure(worker, log):
            wait_for(lambda: _jobs_succeeded(url, "health.heartbeat") >= 1, 60, "a heartbeat", log)
        before = _jobs_succeeded(url, "health.heartbeat")
        configure_celery(make_settings(tmp_path, database_url=database_url, broker_url=redis_url))
        for _ in range(4):
            celery_app.send_task("health.heartbeat")
        wait_for(lambda: _jobs_succeeded(url, "health.heartbeat") >= before + 4, 30, "4 more", log)
        time.sleep(0.5)
        samples = _samples(httpx.get(url, timeout=5).text)
        assert (
            _value(samples, "imagehub_jobs_succeeded_total", task="health.heartbeat") == before + 4
        )
        assert ("imagehub_queue_jobs_waiting", frozenset({("queue", "celery")})) in samples
    finally:
        stop_process_tree(worker)


def test_api_processes_add_up_their_metrics_and_remove_the_folder(tmp_path: Path) -> None:
    database_url = f"sqlite:///{tmp_path / 'api.db'}"
    migrate.upgrade(database_url)
    port = free_port()
    env = imagehub_env(
        tmp_path,
        database_url=database_url,
        broker_url="memory://",
        secret_key=TEST_SECRET,
        port=str(port),
    )
    log = tmp_path / "api.log"
    process = start_imagehub(["api", "--workers", "2"], env, log)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: len(psutil.Process(process.pid).children()) >= 2, 60, "2 workers", log)
        wait_for(lambda: healthy(base), 60, "/healthz", log)
        folder = metrics_folder_of(process.pid)
        for _ in range(20):  # new connections: both processes answer some
            assert httpx.get(f"{base}/healthz", timeout=5).is_success
        samples = _samples(httpx.get(f"{base}/metrics", timeout=5).text)
        counted = _value(
            samples, "imagehub_http_requests_total", method="GET", route="/healthz", status="200"
        )
        assert counted >= 20  # every process's, whichever answers the scrape
        process.terminate()
        assert process.wait(30) == 0, log.read_text()[-3000:]
    finally:
        stop_process_tree(process)
    assert not folder.exists()
