"""The README's "Try it" blocks, taken from README.md as they are written and run with bash
against a real `imagehub serve`, from a folder that looks like a fresh clone (the shipped
images and .venv); the only thing set from outside is `API`, which the block itself
defaults to the port `make run` uses."""

from __future__ import annotations

import re
import subprocess
import sys
import zipfile
from pathlib import Path

import httpx
import pytest

from tests.platform.processes import (
    healthy,
    imagehub_env,
    start_serve,
    stop_process_tree,
    wait_for,
)

pytestmark = pytest.mark.slow

ROOT = Path(__file__).parents[2]


def readme_block(after: str) -> str:
    """The first ```sh block that follows the line starting with `after`."""
    text = (ROOT / "README.md").read_text()
    start = text.index("\n" + after)
    found = re.compile(r"```sh\n(.*?)```", re.S).search(text, start)
    assert found, f"no sh block after {after!r}"
    return found.group(1)


def _run(block: str, cwd: Path, env: dict[str, str], stdin: str = "") -> str:
    answer = subprocess.run(
        ["/bin/bash", "-euo", "pipefail", "-c", block],
        cwd=cwd,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert answer.returncode == 0, f"{block}\nstdout:\n{answer.stdout}\nstderr:\n{answer.stderr}"
    return answer.stdout


def test_the_try_it_blocks_run_as_written(tmp_path: Path) -> None:
    clone = tmp_path / "clone"
    clone.mkdir()
    for shipped in ("bench", "docs"):
        (clone / shipped).symlink_to(ROOT / shipped)
    (clone / ".venv").symlink_to(Path(sys.executable).parents[1])
    base, process, log = start_serve(tmp_path)
    try:
        wait_for(lambda: healthy(base), 60, "/healthz", log)
        env = {**imagehub_env(tmp_path / "data"), "API": base}

        output = _run(readme_block("Try it in a second terminal"), clone, env)
        assert '"email":"ada@example.com"' in output  # /users/me
        assert '"status":"done"' in output
        with zipfile.ZipFile(clone / "task.zip") as archive:
            names = sorted(archive.namelist())
        assert len(names) == 8
        assert "coffee_gray.jpg" in names
        assert "upload_rotated.png" in names

        _run(readme_block("Give yourself the admin"), clone, env, stdin="root password 123\n")
        token = httpx.post(
            f"{base}/login", json={"email": "root@example.com", "password": "root password 123"}
        ).json()["access_token"]
        me = httpx.get(f"{base}/users/me", headers={"Authorization": f"Bearer {token}"}).json()
        assert me["role"] == "admin"
    finally:
        stop_process_tree(process)
