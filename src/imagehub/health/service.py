"""Readiness: can this process reach its database, its broker and its storage?"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import anyio
import anyio.to_thread
from kombu import Connection
from sqlalchemy.ext.asyncio import AsyncSession

from imagehub.core.db import utcnow
from imagehub.core.storage import Storage
from imagehub.health import repository

log = logging.getLogger(__name__)

CHECK_TIMEOUT_SECONDS = 3.0
WORKER_SEEN_WITHIN = timedelta(minutes=3)


@dataclass
class CheckResult:
    ok: bool
    detail: str
    milliseconds: float

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "detail": self.detail, "ms": round(self.milliseconds, 1)}


async def _timed(name: str, probe: Any) -> CheckResult:
    started = time.perf_counter()
    try:
        with anyio.fail_after(CHECK_TIMEOUT_SECONDS):
            await probe()
    except TimeoutError:
        ok, detail = False, f"no answer within {CHECK_TIMEOUT_SECONDS:.0f} s"
    except Exception as error:
        # The endpoint is public: the client learns the kind of failure, the log the rest.
        log.warning("readiness check %s failed: %r", name, error)
        ok, detail = False, f"unreachable ({type(error).__name__})"
    else:
        ok, detail = True, "ok"
    return CheckResult(ok, detail, (time.perf_counter() - started) * 1000)


def _connect_to_broker(url: str) -> None:
    with Connection(url, connect_timeout=CHECK_TIMEOUT_SECONDS) as connection:
        connection.ensure_connection(max_retries=1)


async def readiness(
    session: AsyncSession, storage: Storage, broker_url: str | None
) -> dict[str, CheckResult]:
    async def database() -> None:
        await repository.ping(session)

    async def broker() -> None:
        if not broker_url:
            raise RuntimeError("no broker configured")
        # abandon_on_cancel: a hung connect must not hold the check past its timeout.
        await anyio.to_thread.run_sync(_connect_to_broker, broker_url, abandon_on_cancel=True)

    results: dict[str, CheckResult] = {}

    async def run(name: str, probe: Any) -> None:
        results[name] = await _timed(name, probe)

    async with anyio.create_task_group() as group:
        group.start_soon(run, "broker", broker)
        group.start_soon(run, "storage", storage.check)
    # The session is not safe to share across concurrent tasks, so the database goes alone.
    results["database"] = await _timed("database", database)
    return {name: results[name] for name in ("database", "broker", "storage")}


async def live_workers(session: AsyncSession) -> list[dict[str, Any]]:
    beats = await repository.heartbeats_since(session, utcnow() - WORKER_SEEN_WITHIN)
    return [
        {"hostname": beat.hostname, "seen_at": beat.seen_at.isoformat().replace("+00:00", "Z")}
        for beat in beats
    ]
