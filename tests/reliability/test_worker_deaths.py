"""Workers that die mid-task, one child or the whole worker, on the embedded Redis, Redis
and RabbitMQ: the task completes, every file and row exactly once."""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
from PIL import Image

from imagehub.core.config import Settings
from tests.conftest import register
from tests.platform.processes import start_imagehub, stop_process_tree
from tests.processing import images
from tests.processing.conftest import counts, upload
from tests.processing.test_worker_e2e import (  # noqa: F401  (the stacks and their client)
    _process_env,
    _sleep,
    client,
    stack,
    start_worker,
    wait_until_finished,
)

pytestmark = pytest.mark.slow


def start_beat(settings: Settings, tmp_path: Path) -> Any:
    return start_imagehub(["beat"], _process_env(settings), tmp_path / "beat.log")


def _heavy_images(count: int) -> list[tuple[str, bytes]]:
    gradient = Image.linear_gradient("L").resize((1800, 1800)).convert("RGB")
    data = images.encode(gradient, "JPEG", quality=85)
    return [(f"heavy-{i:02d}.jpg", data) for i in range(count)]


async def _wait_for_progress(api: httpx.AsyncClient, headers: dict[str, str], task_id: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        status = (await api.get(f"/status/{task_id}", headers=headers)).json()
        if status["done"] >= 1:
            return
        await _sleep(0.05)
    raise AssertionError("no progress")


async def test_a_killed_worker_child_is_replaced_and_the_task_completes(
    stack: Settings,  # noqa: F811
    client: httpx.AsyncClient,  # noqa: F811
    tmp_path: Path,
) -> None:
    worker = start_worker(stack, tmp_path, "worker", concurrency=1)
    try:
        account = await register(client)
        task_id = (await upload(client, account["headers"], _heavy_images(16))).json()["task_id"]
        await _wait_for_progress(client, account["headers"], task_id)
        children = psutil.Process(worker.pid).children()
        assert children, "the prefork pool has a child"
        for child in children:
            child.send_signal(signal.SIGKILL)  # dies mid-image
        status = await wait_until_finished(client, account["headers"], task_id, 120)
        assert (status["status"], status["done"], status["failed"]) == ("done", 16, 0)
        assert counts(stack) == {"tasks": 1, "task_images": 16, "image_task": 64}
    finally:
        stop_process_tree(worker)


async def test_a_task_survives_its_whole_worker_dying(
    stack: Settings,  # noqa: F811
    client: httpx.AsyncClient,  # noqa: F811
    tmp_path: Path,
) -> None:
    first = start_worker(stack, tmp_path, "first", concurrency=1)
    # As in production, beat runs beside the workers: its sweep queues again what no
    # broker will redeliver (kombu's Redis transport loses a message when its consumer dies
    # between popping it and recording it as unacknowledged).
    beat = start_beat(stack, tmp_path)
    second = None
    try:
        account = await register(client)
        task_id = (await upload(client, account["headers"], _heavy_images(12))).json()["task_id"]
        await _wait_for_progress(client, account["headers"], task_id)
        for process in [psutil.Process(first.pid), *psutil.Process(first.pid).children()]:
            process.send_signal(signal.SIGKILL)  # the whole worker, no goodbye
        first.wait(10)
        second = start_worker(stack, tmp_path, "second", concurrency=2)
        # RabbitMQ redelivers at once; Redis once the visibility timeout (10 s here) passes;
        # the sweep (every minute, 20 s without progress here) catches anything else.
        status = await wait_until_finished(client, account["headers"], task_id, 150)
        assert (status["status"], status["done"], status["failed"]) == ("done", 12, 0)
        assert counts(stack) == {"tasks": 1, "task_images": 12, "image_task": 48}
    finally:
        stop_process_tree(beat)
        stop_process_tree(first)
        if second is not None:
            stop_process_tree(second)
