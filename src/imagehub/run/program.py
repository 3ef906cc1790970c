"""The `imagehub` program: what must be settled before anything is imported, then the CLI.

`serve` and `worker` start processes that count metrics (`serve`'s worker and beat, a
worker's pool) and one scrape must read them all, which prometheus_client does through
files in PROMETHEUS_MULTIPROC_DIR. It picks that mode when first imported, so the folder is
made here, before the import, unless the operator gave one; the command removes it at exit.
"""

from __future__ import annotations

import os
import sys
import tempfile

OWN_METRICS_FOLDER = "IMAGEHUB_OWN_METRICS_FOLDER"
COMMANDS_THAT_SHARE_METRICS = {"serve", "worker"}


def main() -> None:
    command = sys.argv[1] if len(sys.argv) > 1 else ""
    if command in COMMANDS_THAT_SHARE_METRICS and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        folder = tempfile.mkdtemp(prefix="imagehub-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = folder
        os.environ[OWN_METRICS_FOLDER] = folder

    from imagehub.run.cli import app

    app(prog_name="imagehub")
