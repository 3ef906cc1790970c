"""A PostgreSQL server of a test's own, on its own port, that the test may stop and start
(the shared server on 5432 is never touched). Built from the machine's PostgreSQL binaries;
run as the `postgres` account when the tests run as root, since PostgreSQL refuses root."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.conftest import free_port, service_unavailable


def _binaries() -> Path | None:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
    if found:
        return found[-1].parent
    pg_ctl = shutil.which("pg_ctl")
    return Path(pg_ctl).parent if pg_ctl else None


class PrivatePostgres:
    def __init__(self, bin_dir: Path, root: Path) -> None:
        self.bin_dir = bin_dir
        self.data = root / "data"
        self.sockets = root / "sockets"
        self.log = root / "postgres.log"
        self.port = free_port()
        self.as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, tool: str, *args: str) -> None:
        subprocess.run(
            [*self.as_postgres, str(self.bin_dir / tool), *args],
            check=True,
            capture_output=True,
            timeout=60,
        )

    def init(self) -> None:
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync")

    def start(self) -> None:
        options = f"-p {self.port} -k {self.sockets} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "start")

    def stop(self, mode: str = "fast") -> None:
        """`fast` ends every session at once, as a restart does."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")


@contextmanager
def private_postgres() -> Iterator[PrivatePostgres]:
    bin_dir = _binaries()
    if bin_dir is None:
        service_unavailable("PostgreSQL's server binaries (for a private server)", "not found")
    assert bin_dir is not None
    root = Path(tempfile.mkdtemp(prefix="imagehub-private-pg-"))
    root.chmod(0o755)
    server = PrivatePostgres(bin_dir, root)
    server.sockets.mkdir()
    if server.as_postgres:
        shutil.chown(root, "postgres")
        shutil.chown(server.sockets, "postgres")
    try:
        server.init()
        server.start()
    except (subprocess.CalledProcessError, OSError) as error:
        shutil.rmtree(root, ignore_errors=True)
        service_unavailable("a private PostgreSQL server", error)
    try:
        yield server
    finally:
        with contextlib.suppress(subprocess.CalledProcessError):  # already stopped
            server.stop("immediate")
        shutil.rmtree(root, ignore_errors=True)
