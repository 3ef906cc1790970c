"""Where an image job's time goes: each stage timed, into the job metrics and, at debug
level, one log line per job (README, "Performance", reads its breakdown off these). A
job's own stages (read, start, finish, handoff) count once per job; an image's (fetch,
pipeline, the stores) once per image."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager

from imagehub.core.metrics import IMAGE_JOB_STAGES

log = logging.getLogger(__name__)

# When this process's previous job ended (perf_counter is per process: a pool child's own).
_previous_job_ended: float | None = None


class StageClock:
    """The stages of one image job, in the order they first ran. Stages timed in other
    threads (the stores, which run at once) are added with `record`."""

    def __init__(self) -> None:
        self.started = time.perf_counter()
        self.seconds: dict[str, float] = {}

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        began = time.perf_counter()
        try:
            yield
        finally:
            self.record(name, time.perf_counter() - began)

    def record(self, name: str, seconds: float) -> None:
        IMAGE_JOB_STAGES.labels(name).observe(seconds)
        self.seconds[name] = self.seconds.get(name, 0.0) + seconds

    def note_handoff(self, sent_at: float | None) -> None:
        """The broker's round trip before this job: from when the job had been sent and this
        process was free (its previous job had ended) to now. Unknown for a process's first
        job, or a job sent without its time. The time sent is the sender's clock: across
        hosts it carries their clocks' difference too."""
        if _previous_job_ended is None or sent_at is None:
            return
        # perf_counter and the wall clock differ by a constant within one process.
        sent = sent_at - time.time() + time.perf_counter()
        waited = self.started - max(sent, _previous_job_ended)
        if waited >= 0:
            self.record("handoff", waited)

    def report(self, job: str) -> None:
        """The job has ended: log its stages (each the sum over its images)."""
        global _previous_job_ended
        _previous_job_ended = time.perf_counter()
        total = _previous_job_ended - self.started
        if log.isEnabledFor(logging.DEBUG):
            parts = " ".join(f"{name}={s * 1000:.2f}ms" for name, s in self.seconds.items())
            log.debug("job of %s: stages %s total=%.2fms", job, parts, total * 1000)
