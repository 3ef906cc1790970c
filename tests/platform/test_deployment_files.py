"""The Dockerfile and docker-compose.yml, checked where no Docker engine runs: by the linters
that read them (hadolint; the Compose specification's JSON schema) and by reading what a
deployment needs of them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from imagehub.core.config import Settings

ROOT = Path(__file__).parents[2]
BIN = Path(sys.executable).parent


def _tool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / args[0]), *args[1:]], cwd=ROOT, capture_output=True, text=True, check=False
    )


def _compose() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return document


def test_hadolint_finds_nothing() -> None:
    linted = _tool("hadolint", "--failure-threshold", "info", "Dockerfile")
    assert linted.returncode == 0, linted.stdout + linted.stderr


def test_compose_file_follows_the_compose_specification() -> None:
    checked = _tool(
        "check-jsonschema", "--builtin-schema", "vendor.compose-spec", "docker-compose.yml"
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_every_image_is_pinned_and_every_process_has_a_health_check() -> None:
    services = _compose()["services"]
    for name, service in services.items():
        image = service["image"]
        tag = image.rsplit(":", 1)[1] if ":" in image else ""
        assert tag not in ("", "latest"), f"{name}: {image} is not pinned"
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert 'CMD ["imagehub", "health", "api"]' in dockerfile.split("HEALTHCHECK", 1)[1]
    assert "healthcheck" not in services["api"]  # the image's own
    assert services["worker"]["healthcheck"]["test"] == ["CMD", "imagehub", "health", "worker"]
    assert services["beat"]["healthcheck"]["test"] == ["CMD", "imagehub", "health", "beat"]


def test_settings_in_compose_are_real_settings_and_secrets_come_from_files() -> None:
    fields = {f"IMAGEHUB_{name.upper()}" for name in Settings.model_fields}
    environment = _compose()["services"]["worker"]["environment"]
    for variable in environment:
        assert variable.removesuffix("_FILE") in fields, variable
    for secret in ("IMAGEHUB_SECRET_KEY", "IMAGEHUB_S3_SECRET_ACCESS_KEY"):
        assert secret not in environment
        assert environment[f"{secret}_FILE"].startswith("/run/secrets/")
    assert environment["IMAGEHUB_WORKER_METRICS_PORT"] == "9102"


def test_presigned_links_point_where_a_browser_on_the_host_can_go() -> None:
    compose = _compose()
    environment = compose["services"]["api"]["environment"]
    public = urlsplit(environment["IMAGEHUB_STORAGE_PUBLIC_URL"])
    assert public.hostname == "localhost"
    published = {port.split(":")[0] for port in compose["services"]["minio"]["ports"]}
    assert str(public.port) in published
    internal = urlsplit(environment["IMAGEHUB_S3_ENDPOINT_URL"])
    assert internal.hostname == "minio"  # inside compose's network


def test_the_application_has_its_own_minio_account() -> None:
    services = _compose()["services"]
    root_user = services["minio"]["environment"]["MINIO_ROOT_USER"]
    app_user = services["api"]["environment"]["IMAGEHUB_S3_ACCESS_KEY_ID"]
    assert app_user != root_user
    script = services["bucket"]["command"][0]
    assert f"mc admin user add local {app_user}" in script
    assert f"--user {app_user}" in script


def test_the_build_context_is_only_what_the_image_needs() -> None:
    ignored = (ROOT / ".dockerignore").read_text().splitlines()
    assert "*" in ignored  # everything, except what is let in below
    let_in = {line[1:].rstrip("/") for line in ignored if line.startswith("!")}
    copied = {"requirements.lock", "pyproject.toml", "README.md", "src"}
    assert let_in == copied
    user = next(
        line for line in (ROOT / "Dockerfile").read_text().splitlines() if line.startswith("USER")
    )
    assert user.split()[1].replace(":", "").isdigit()
