from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from imagehub.core.config import Settings
from imagehub.repostats import github as github_client
from tests.conftest import make_settings, service_unavailable
from tests.repostats.fake_github import FakeGitHub
from tests.repostats.helpers import TOKEN, FakeClock


@pytest.fixture
def github() -> Iterator[FakeGitHub]:
    """A fake GitHub on 127.0.0.1; a test fails if it ever broke GitHub's descriptions."""
    if shutil.which("npm") is None:
        service_unavailable("npm (to install GitHub's published descriptions)", "not found")
    try:
        fake = FakeGitHub().start()
    except subprocess.CalledProcessError as error:
        service_unavailable("the npm registry", error.stderr.decode(errors="replace")[-300:])
    yield fake
    fake.stop()
    assert fake.violations == [], fake.violations


@pytest.fixture(autouse=True)
def quick_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """The real schedule (0.5 s doubling, four retries) is 7.5 s per failing request."""
    monkeypatch.setattr(github_client, "BACKOFF_SECONDS", 0.01)


@pytest.fixture(params=["graphql", "rest", "anonymous"])
def mode(request: pytest.FixtureRequest) -> str:
    """GraphQL (with a token), REST with a token, and REST without one (`make run`'s)."""
    return str(request.param)


@pytest.fixture
def settings(tmp_path: Path, clean_database: str, github: FakeGitHub, mode: str) -> Settings:
    return make_settings(
        tmp_path,
        database_url=clean_database,
        broker_url="memory://",
        github_api_url=github.url,
        github_token=None if mode == "anonymous" else TOKEN,
        github_mode="rest" if mode == "anonymous" else mode,
        # Today's scan is due from midnight, so "a day passes" means the same at any hour
        # (with the default 03:00, a run between 00:00 and 03:00 UTC found nobody due).
        github_scan_at="00:00",
        # Pacing has its own test; here it would only stretch 250-repository scans.
        github_rest_per_minute=60_000,
        github_graphql_per_minute=60_000,
    )


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    """Every GitHub client's waits, recorded and passed at once (a minute is a minute of
    the client's time, not the test's)."""
    fake = FakeClock()
    monkeypatch.setattr(github_client, "Clock", lambda: fake)
    return fake
