"""What the suite saw each route answer, held against what the OpenAPI document declares.

Runs after every other test (see conftest.py) and reads the HTTP counter of this process,
which every in-process app of the suite counted into: a status a route answered that its
operation does not declare fails here, and so does a quarter of the operations never
reached. It skips unless the whole suite runs (a part has too little to read).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from imagehub.run.api import create_app
from tests.conftest import make_settings

pytestmark = pytest.mark.runs_last

HTTP_METHODS = {"get", "put", "post", "delete", "patch"}


def seen_statuses() -> dict[tuple[str, str], set[int]]:
    seen: dict[tuple[str, str], set[int]] = {}
    for family in REGISTRY.collect():
        if family.name != "imagehub_http_requests":
            continue
        for sample in family.samples:
            if not sample.name.endswith("_total") or not sample.value:
                continue
            method = sample.labels["method"].lower()
            method = "get" if method == "head" else method  # HEAD answers as GET does
            key = (method, sample.labels["route"])
            seen.setdefault(key, set()).add(int(sample.labels["status"]))
    return seen


def _whole_suite_runs(request: pytest.FixtureRequest) -> bool:
    """Every test module of the suite is in this run (and the others' tests ran first)."""
    tests = Path(__file__).parents[1]
    modules = {Path(str(item.path)) for item in request.session.items}
    return set(tests.rglob("test_*.py")) <= modules


def test_every_status_the_suite_saw_is_declared(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    if not _whole_suite_runs(request):
        pytest.skip("reads what the whole suite did: run it whole")
    document = create_app(make_settings(tmp_path)).openapi()
    declared = {
        (method, path): {int(status) for status in operation["responses"]}
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in HTTP_METHODS
    }
    seen = {key: statuses for key, statuses in seen_statuses().items() if key in declared}
    undeclared = {
        f"{method.upper()} {path}": sorted(statuses - declared[(method, path)])
        for (method, path), statuses in seen.items()
        if statuses - declared[(method, path)]
    }
    assert undeclared == {}
    never_reached = sorted(f"{m.upper()} {p}" for m, p in declared if (m, p) not in seen)
    print(f"operations reached in process: {len(seen)} of {len(declared)}; not: {never_reached}")
    # Reached by the tests that drive real processes (their counters live there).
    assert len(never_reached) <= len(declared) // 4, never_reached
