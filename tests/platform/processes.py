"""Helpers to run imagehub's real processes (worker, serve) from tests."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import httpx
import psutil

T = TypeVar("T")


def imagehub_env(tmp_path: Path, **settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("IMAGEHUB_")}
    # PYTHONFAULTHANDLER: a process sent SIGABRT writes every thread's stack to its log.
    env.update(
        {"IMAGEHUB_DATA_DIR": str(tmp_path), "PYTHONUNBUFFERED": "1", "PYTHONFAULTHANDLER": "1"}
    )
    env.update({f"IMAGEHUB_{name.upper()}": value for name, value in settings.items()})
    return env


def start_imagehub(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as output:
        return subprocess.Popen(
            [sys.executable, "-m", "imagehub", *args],
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def start_serve(folder: Path) -> tuple[str, subprocess.Popen[bytes], Path]:
    """`imagehub serve` on a free port, its data in `folder/data`: its URL, process and log."""
    from tests.conftest import free_port

    port = free_port()
    log = folder / "serve.log"
    process = start_imagehub(["serve"], imagehub_env(folder / "data", port=str(port)), log)
    return f"http://127.0.0.1:{port}", process, log


def healthy(base: str) -> bool:
    return httpx.get(f"{base}/healthz", timeout=2).is_success


def wait_for(
    probe: Callable[[], T | None], timeout: float, what: str, log: Path | None = None
) -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            result = probe()
        except Exception:
            result = None
        if result:
            return result
        time.sleep(0.2)
    tail = log.read_text(errors="replace")[-3000:] if log and log.exists() else ""
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}\n{tail}")


@contextlib.contextmanager
def stacks_on_failure(process: subprocess.Popen[bytes], log: Path) -> Iterator[None]:
    """A wait that times out shows where the process's children were stuck: each is sent
    SIGABRT, and the stacks they write join the failure's text."""
    try:
        yield
    except AssertionError as failure:
        children = descendants(process.pid)
        for child in children:
            with contextlib.suppress(psutil.NoSuchProcess):
                child.send_signal(signal.SIGABRT)
        psutil.wait_procs(children, timeout=5)
        stacks = log.read_text(errors="replace").partition("Fatal Python error")[2][-6000:]
        raise AssertionError(f"{failure}\n--- the children's stacks ---\n{stacks}") from None


def descendants(pid: int) -> list[psutil.Process]:
    children: list[psutil.Process] = psutil.Process(pid).children(recursive=True)
    return children


def metrics_folder_of(serve_pid: int) -> Path:
    """The metrics folder `serve` made (set in its environment after it started, so read
    from a child's, which began with it)."""
    for child in descendants(serve_pid):
        folder = child.environ().get("PROMETHEUS_MULTIPROC_DIR")
        if folder:
            return Path(folder)
    raise AssertionError("no child of serve has a metrics folder")


def stop_process_tree(process: subprocess.Popen[bytes], timeout: float = 30) -> None:
    """Best-effort clean-up for tests that fail half-way."""
    try:
        family = [psutil.Process(process.pid), *descendants(process.pid)]
    except psutil.NoSuchProcess:
        return
    for member in family:
        with contextlib.suppress(psutil.NoSuchProcess):
            member.terminate()
    _, alive = psutil.wait_procs(family, timeout=timeout)
    for member in alive:
        member.kill()
