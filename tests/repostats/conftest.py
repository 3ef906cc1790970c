from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator

import pytest

from tests.conftest import service_unavailable
from tests.repostats.fake_github import FakeGitHub

TOKEN = "ghp_" + "t" * 36


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
