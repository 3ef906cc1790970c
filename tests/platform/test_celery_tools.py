"""Celery's own command line finds our app and our workers: `celery -A imagehub.worker ...`
against `imagehub serve`'s embedded broker and against a production worker on Redis, which
takes Celery's worker options as given."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from imagehub.core import migrate
from tests.conftest import TEST_SECRET, free_port
from tests.platform.processes import (
    imagehub_env,
    start_imagehub,
    start_serve,
    stop_process_tree,
    wait_for,
)

pytestmark = pytest.mark.slow

CELERY = str(Path(sys.executable).with_name("celery"))


def _celery(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CELERY, "-A", "imagehub.worker", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _answered(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str] | None:
    answer = _celery(env, *args)
    return answer if answer.returncode == 0 else None


def _health(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "imagehub", "health", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_inspect_ping_finds_the_worker_of_serve_through_the_data_folder(tmp_path: Path) -> None:
    base, process, log = start_serve(tmp_path)
    env = imagehub_env(tmp_path / "data", port=base.rsplit(":", 1)[1])
    try:
        wait_for(lambda: "Embedded broker: redis+socket://" in log.read_text(), 60, "start", log)
        tool_env = imagehub_env(tmp_path / "data")  # the data folder, nothing else
        ping = wait_for(lambda: _answered(tool_env, "inspect", "ping"), 60, "a pong", log)
        assert "pong" in ping.stdout
        _flower_lists_the_worker(tool_env, tmp_path / "flower.log")
        report = _celery(tool_env, "report")
        assert "redis+socket://" in report.stdout  # not Celery's default amqp://
        # The containers' health checks, each against its own process.
        for process_kind, check_env in (("api", env), ("worker", tool_env), ("beat", tool_env)):
            checked = _health(check_env, process_kind)
            assert checked.returncode == 0, (process_kind, checked.stdout, checked.stderr)
    finally:
        stop_process_tree(process)


def _flower_lists_the_worker(env: dict[str, str], log: Path) -> None:
    port = free_port()
    with log.open("wb") as output:
        flower = subprocess.Popen(
            [CELERY, "-A", "imagehub.worker", "flower", f"--port={port}", "--address=127.0.0.1"],
            env={**env, "FLOWER_UNAUTHENTICATED_API": "true"},
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        url = f"http://127.0.0.1:{port}/api/workers?refresh=1"
        workers = wait_for(lambda: httpx.get(url, timeout=10).json(), 60, "Flower's workers", log)
        assert any(name.startswith("celery@") for name in workers)
    finally:
        stop_process_tree(flower)


def test_health_checks_fail_when_nothing_runs(tmp_path: Path) -> None:
    env = imagehub_env(tmp_path, port=str(free_port()))
    assert _health(env, "api").returncode == 1
    beat = _health(env, "beat")
    assert beat.returncode == 1
    assert "has not saved its schedule" in beat.stdout + beat.stderr


def test_without_a_broker_the_tools_say_where_they_looked(tmp_path: Path) -> None:
    answer = _celery(imagehub_env(tmp_path / "nothing-here"), "inspect", "ping")
    assert answer.returncode != 0
    assert "IMAGEHUB_BROKER_URL is not set and no `imagehub serve` runs on" in answer.stderr


def test_worker_takes_celerys_own_options(tmp_path: Path, redis_url: str) -> None:
    database_url = f"sqlite:///{tmp_path / 'worker.db'}"
    migrate.upgrade(database_url)
    env = imagehub_env(
        tmp_path, database_url=database_url, broker_url=redis_url, secret_key=TEST_SECRET
    )
    log = tmp_path / "worker.log"
    options = ["-n", "tools-test@%h", "--max-tasks-per-child=50", "--autoscale=2,1", "-Q", "celery"]
    worker = start_imagehub(["worker", *options], env, log)
    try:
        node = f"tools-test@{socket.gethostname()}"
        ping = wait_for(lambda: _answered(env, "inspect", "ping", "-d", node), 60, "a pong", log)
        assert "pong" in ping.stdout
        stats = json.loads(_celery(env, "inspect", "stats", "-d", node, "--json").stdout)[node]
        assert stats["pool"]["max-tasks-per-child"] == 50
        assert stats["autoscaler"]["max"] == 2
        assert stats["autoscaler"]["min"] == 1
        # Its health check asks for it by name; the default name is not this worker's.
        assert _health(env, "worker", "--node", node).returncode == 0
        not_this_one = _health(env, "worker")
        assert not_this_one.returncode == 1
        assert "did not answer a ping" in not_this_one.stdout + not_this_one.stderr
    finally:
        stop_process_tree(worker)
