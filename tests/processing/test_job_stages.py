"""Where an image job's time goes: each stage timed into the job metrics and, at debug
level, one log line per job; and the job's transactions that need not wait for the disk."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterator

import httpx
import pytest
import sqlalchemy as sa

from imagehub.core.config import Settings
from imagehub.core.db import Database
from imagehub.core.metrics import IMAGE_JOB_STAGES
from imagehub.processing import stages
from imagehub.processing.stages import StageClock
from tests.conftest import register
from tests.processing.conftest import process_all, upload
from tests.processing.images import corrupt_jpeg, jpeg

STAGE_LINE = re.compile(r"job of (\d+) image\(s\) of task (\S+): stages (.*) total=([0-9.]+)ms")


def _stage_counts() -> dict[str, tuple[float, float]]:
    """Each stage's (count, sum of seconds) in this process's registry."""
    counts: dict[str, float] = {}
    sums: dict[str, float] = {}
    for family in IMAGE_JOB_STAGES.collect():
        for sample in family.samples:
            stage = sample.labels["stage"]
            if sample.name.endswith("_count"):
                counts[stage] = sample.value
            elif sample.name.endswith("_sum"):
                sums[stage] = sample.value
    return {stage: (counts[stage], sums.get(stage, 0.0)) for stage in counts}


@pytest.fixture
def fresh_process() -> Iterator[None]:
    """As in a pool child before its first job: no previous job to measure a handoff from."""
    saved = stages._previous_job_ended
    stages._previous_job_ended = None
    yield
    stages._previous_job_ended = saved


async def test_each_job_times_its_stages_in_the_metrics_and_the_debug_log(
    client: httpx.AsyncClient,
    settings: Settings,
    caplog: pytest.LogCaptureFixture,
    fresh_process: None,
) -> None:
    owner = await register(client)
    files = [("photo.jpg", jpeg(640, 480)), ("broken.jpg", corrupt_jpeg())]
    task_id = (await upload(client, owner["headers"], files)).json()["task_id"]
    before = _stage_counts()
    with caplog.at_level(logging.DEBUG, logger="imagehub.processing.stages"):
        assert sorted(str(s) for s in process_all(settings, task_id)) == ["done", "failed"]
    after = _stage_counts()
    added = {
        stage: after[stage][0] - before.get(stage, (0.0, 0.0))[0]
        for stage in after
        if after[stage][0] > before.get(stage, (0.0, 0.0))[0]
    }
    # Both images go in one job (the settings' pixels per job), which reads, starts the
    # task and finishes once; each image is fetched and decoded, and only the photo stores
    # (three variants and a thumbnail). No handoff: this job is called here, not delivered
    # by a broker (the test below times it).
    assert added == {
        "read": 1,
        "start": 1,
        "fetch": 2,
        "pipeline": 2,
        "store": 1,
        "store_rotated": 1,
        "store_gray": 1,
        "store_scaled": 1,
        "store_thumbnail": 1,
        "finish": 1,
    }
    lines = [STAGE_LINE.search(r.getMessage()) for r in caplog.records]
    found = [line for line in lines if line]
    assert len(found) == 1
    (line,) = found
    assert (line.group(1), line.group(2)) == ("2", task_id)
    parts = dict(part.split("=") for part in line.group(3).split())
    # The job's own stages (each store is also in "store", the four together).
    timed = sum(
        float(value.removesuffix("ms"))
        for name, value in parts.items()
        if not name.startswith("store_")
    )
    assert {"read", "start", "fetch", "pipeline", "store", "finish"} <= parts.keys()
    assert 0 < timed <= float(line.group(4)) + 0.01  # parts of the job, within its total


def test_the_handoff_is_the_wait_while_both_the_job_and_a_free_process_existed(
    fresh_process: None,
) -> None:
    first = StageClock()
    first.note_handoff(time.time() - 5)
    assert "handoff" not in first.seconds  # a process's first job: nothing to time it from
    first.report("first")

    time.sleep(0.05)  # free, with the second job already sent 5 s ago
    second = StageClock()
    second.note_handoff(time.time() - 5)
    assert 0.05 <= second.seconds["handoff"] < 1
    second.report("second")

    time.sleep(0.05)  # free; the third job is sent 20 ms before it starts
    sent = time.time()
    time.sleep(0.02)
    third = StageClock()
    third.note_handoff(sent)
    assert 0.02 <= third.seconds["handoff"] < 0.05
    third.report("third")

    fourth = StageClock()
    fourth.note_handoff(None)  # a job sent without its time (an older sender)
    assert "handoff" not in fourth.seconds


def test_a_job_transaction_on_postgresql_commits_without_waiting_for_the_disk(
    postgres_url: str,
) -> None:
    database = Database(postgres_url)
    try:
        with database.transaction(durable=False) as session:
            assert session.scalar(sa.text("SHOW synchronous_commit")) == "off"
        with database.transaction() as session:  # every other transaction waits for it
            assert session.scalar(sa.text("SHOW synchronous_commit")) == "on"
    finally:
        database.dispose()
