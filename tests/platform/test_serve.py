"""`imagehub serve`: the all-in-one on embedded defaults, started and stopped for real."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from tests.platform.processes import (
    descendants,
    healthy,
    metrics_folder_of,
    start_serve,
    stop_process_tree,
    wait_for,
)

pytestmark = pytest.mark.slow


def _ready_with_a_worker(base: str) -> dict[str, Any] | None:
    response = httpx.get(f"{base}/readyz", timeout=5)
    body: dict[str, Any] = response.json()
    return body if response.status_code == 200 and body["workers"] else None


def test_serve_runs_everything_and_stops_cleanly_on_ctrl_c(tmp_path: Path) -> None:
    base, process, log = start_serve(tmp_path)
    try:
        wait_for(lambda: healthy(base), 60, "/healthz", log)
        ready = wait_for(lambda: _ready_with_a_worker(base), 60, "a ready worker", log)
        assert all(check["ok"] for check in ready["checks"].values())

        account = {"email": "serve@example.com", "password": "password123"}
        assert httpx.post(f"{base}/registration", json=account).status_code == 201
        assert httpx.post(f"{base}/login", json=account).status_code == 200

        family = descendants(process.pid)
        names = " ".join(" ".join(p.cmdline()) for p in family)
        assert "redis-server" in names
        assert " worker" in names
        assert " beat" in names
        data = tmp_path / "data"
        assert (data / "imagehub.db").exists()
        assert (data / "secret_key").exists()

        process.send_signal(signal.SIGINT)  # what Ctrl-C delivers
        assert process.wait(60) == 0, log.read_text()[-3000:]
        _, alive = psutil.wait_procs(family, timeout=10)
        assert alive == [], f"left behind: {[p.cmdline() for p in alive]}"
    finally:
        stop_process_tree(process)


def test_children_do_not_outlive_a_killed_serve(tmp_path: Path) -> None:
    base, process, log = start_serve(tmp_path)
    try:
        wait_for(lambda: _ready_with_a_worker(base), 60, "a ready worker", log)
        family = descendants(process.pid)
        os.kill(process.pid, signal.SIGKILL)  # no chance to clean up
        process.wait(10)
        _, alive = psutil.wait_procs(family, timeout=40)
        assert alive == [], f"orphans: {[p.cmdline() for p in alive]}"
    finally:
        stop_process_tree(process)


def test_the_same_data_folder_keeps_its_secret_across_restarts(tmp_path: Path) -> None:
    base, process, log = start_serve(tmp_path)
    try:
        wait_for(lambda: healthy(base), 60, "/healthz", log)
        account = {"email": "again@example.com", "password": "password123"}
        token = httpx.post(f"{base}/registration", json=account).json()["access_token"]
        process.send_signal(signal.SIGINT)
        process.wait(60)
        base, process, log = start_serve(tmp_path)
        wait_for(lambda: healthy(base), 60, "/healthz", log)
        me = httpx.get(f"{base}/users/me", headers={"Authorization": f"Bearer {token}"})
        assert me.status_code == 200  # same secret, same database: the token still works
    finally:
        stop_process_tree(process)


def test_a_child_that_dies_stops_serve_with_an_error_and_nothing_left(tmp_path: Path) -> None:
    base, process, log = start_serve(tmp_path)
    try:
        wait_for(lambda: _ready_with_a_worker(base), 60, "a ready worker", log)
        family = descendants(process.pid)
        beat = next(p for p in family if " beat" in " ".join(p.cmdline()))
        beat.kill()
        assert process.wait(60) == 1, log.read_text()[-3000:]
        _, alive = psutil.wait_procs(family, timeout=20)
        assert alive == [], f"left behind: {[p.cmdline() for p in alive]}"
        assert "beat exited with code -9; stopping" in log.read_text()
    finally:
        stop_process_tree(process)


def test_sigterm_stops_serve_as_ctrl_c_does(tmp_path: Path) -> None:
    base, process, log = start_serve(tmp_path)
    try:
        wait_for(lambda: _ready_with_a_worker(base), 60, "a ready worker", log)
        family = descendants(process.pid)
        metrics_folder = metrics_folder_of(process.pid)
        broker_url_file = tmp_path / "data" / "broker" / "url"
        assert broker_url_file.exists()
        process.terminate()  # docker stop, systemd
        assert process.wait(60) == 0, log.read_text()[-3000:]
        _, alive = psutil.wait_procs(family, timeout=20)
        assert alive == [], f"left behind: {[p.cmdline() for p in alive]}"
        assert not metrics_folder.exists()
        assert not broker_url_file.exists()
    finally:
        stop_process_tree(process)
