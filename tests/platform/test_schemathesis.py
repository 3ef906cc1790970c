"""Schemathesis against a real `imagehub api` process, as a user and as an admin: generated
requests to every operation of the OpenAPI document, a fixed seed, a bounded number of
cases. It fails on any server error, any status the document does not declare, and any
response body, content type or header that does not match it. GitHub is the local fake."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from imagehub.accounts.models import User
from imagehub.core import migrate
from tests.conftest import TEST_SECRET, connected, free_port
from tests.platform.processes import imagehub_env, start_imagehub, stop_process_tree, wait_for
from tests.repostats.conftest import github  # noqa: F401  (the fake GitHub fixture)
from tests.repostats.fake_github import FakeGitHub

pytestmark = pytest.mark.slow

SEED = 20261201
EXAMPLES = 25
CHECKS = ",".join(
    [
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_headers_conformance",
        "response_schema_conformance",
    ]
)
SCHEMATHESIS = Path(sys.executable).parent / "schemathesis"


@pytest.fixture
def api(tmp_path: Path, github: FakeGitHub) -> Iterator[tuple[str, str]]:  # noqa: F811
    """(base URL, database URL) of an API process, with GitHub answering from the fake."""
    github.add_user(583231, "octocat", repos=3)
    database_url = f"sqlite:///{tmp_path / 'schemathesis.db'}"
    migrate.upgrade(database_url)
    port = free_port()
    env = imagehub_env(
        tmp_path,
        database_url=database_url,
        broker_url="memory://",
        secret_key=TEST_SECRET,
        port=str(port),
        github_api_url=github.url,
        login_max_failures="100000",  # the fuzzer logs in thousands of times
    )
    log = tmp_path / "api.log"
    process = start_imagehub(["api"], env, log)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: httpx.get(f"{base}/healthz", timeout=2).is_success, 60, "/healthz", log)
        yield base, database_url
    finally:
        stop_process_tree(process)
    assert "Traceback" not in log.read_text(), log.read_text()[-3000:]


def token_of(base: str, database_url: str, email: str, role: str) -> str:
    account = {"email": email, "password": "correct horse battery"}
    assert httpx.post(f"{base}/registration", json=account).status_code == 201
    with connected(database_url) as connection:
        connection.execute(sa.update(User).where(User.email == email).values(role=role))
    token: str = httpx.post(f"{base}/login", json=account).json()["access_token"]
    return token


INTERPRETER_BUG = "SystemError: AST constructor recursion depth mismatch"


@pytest.mark.parametrize("role", ["user", "admin"])
def test_the_api_matches_its_openapi_document(
    api: tuple[str, str], role: str, tmp_path: Path
) -> None:
    base, database_url = api
    token = token_of(base, database_url, f"{role}@example.com", role)
    command = [
        str(SCHEMATHESIS),
        "run",
        f"{base}/openapi.json",
        "--header",
        f"Authorization: Bearer {token}",
        "--checks",
        CHECKS,
        "--seed",
        str(SEED),
        "--max-examples",
        str(EXAMPLES),
        "--phases",
        "examples,coverage,fuzzing",
        "--workers",
        "2",
        "--request-timeout",
        "30",
        "--report-dir",
        str(tmp_path / "report"),
    ]
    run = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    if INTERPRETER_BUG in run.stdout:
        # CPython 3.11's ast.parse can fail like this deep in a recursion (hypothesis parses
        # a lambda's source to describe a strategy): the interpreter's error, not the API's.
        # Seen once in ~40 runs; one more run tells which it is.
        run = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    assert run.returncode == 0, run.stdout[-8000:] + run.stderr[-2000:]
    assert "No failures" in run.stdout or " passed" in run.stdout, run.stdout[-2000:]
