"""Benchmark: an image job's four writes to S3, one after another against at once.

    .venv/bin/python bench/storage.py [--latency-ms 10] [--rounds 30]

moto's S3 server (its own process) behind a TCP proxy (another process) that delays every
chunk by half the round trip in each direction, as a network between a worker and its S3
would: the four files of a 12 MP job (variant-sized), written by `Storage.put` in turn and
by `Storage.put_all`. Prints the median time of each and their ratio; run with
`--latency-ms 0` to see moto alone (its server, in Python, is then the bottleneck).
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

PROXY = """
import asyncio, sys
listen, target, delay = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])

async def pipe(reader, writer):
    # Each chunk goes on `delay` after it came in, without waiting for the ones before it
    # to go: latency, not a bandwidth limit.
    loop = asyncio.get_running_loop()
    queue = asyncio.Queue()

    async def send():
        while (item := await queue.get()) is not None:
            due, data = item
            await asyncio.sleep(max(0.0, due - loop.time()))
            writer.write(data)
            await writer.drain()
        writer.close()

    sender = asyncio.create_task(send())
    while data := await reader.read(65536):
        queue.put_nowait((loop.time() + delay, data))
    queue.put_nowait(None)
    await sender

async def serve(client_reader, client_writer):
    server_reader, server_writer = await asyncio.open_connection("127.0.0.1", target)
    await asyncio.gather(pipe(client_reader, server_writer), pipe(server_reader, client_writer))

async def main():
    server = await asyncio.start_server(serve, "127.0.0.1", listen)
    async with server:
        await server.serve_forever()

asyncio.run(main())
"""

# A 12 MP job's files: rotated, gray, scaled, thumbnail.
SIZES = {
    "rotated.jpg": 3_300_000,
    "gray.jpg": 2_200_000,
    "scaled.jpg": 900_000,
    "thumb.jpg": 40_000,
}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_for(port: int) -> None:
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--latency-ms", type=float, default=10.0, help="round trip added")
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).parents[1]))
    import boto3
    from tests.conftest import s3_settings

    from imagehub.core.storage import Storage

    moto_port, proxy_port = _free_port(), _free_port()
    quiet = subprocess.DEVNULL
    moto = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(moto_port)],
        stdout=quiet,
        stderr=quiet,
    )
    delay = str(args.latency_ms / 2000)
    proxy = subprocess.Popen(
        [sys.executable, "-c", PROXY, str(proxy_port), str(moto_port), delay],
        stdout=quiet,
        stderr=quiet,
    )
    try:
        _wait_for(moto_port)
        _wait_for(proxy_port)
        endpoint = f"http://127.0.0.1:{proxy_port}"
        bucket = f"bench-{uuid.uuid4().hex[:10]}"
        boto3.client(
            "s3",
            endpoint_url=f"http://127.0.0.1:{moto_port}",
            region_name="us-east-1",
            aws_access_key_id="test",
            aws_secret_access_key="test",  # noqa: S106 (moto's)
        ).create_bucket(Bucket=bucket)
        storage = Storage.from_settings(s3_settings(Path(tempfile.gettempdir()), endpoint, bucket))
        files = {f"tasks/bench/{name}": os.urandom(size) for name, size in SIZES.items()}

        def in_turn() -> None:
            for key, data in files.items():
                storage.put(key, data)

        def at_once() -> None:
            storage.put_all(files)

        times: dict[str, list[float]] = {"in turn": [], "at once": []}
        for way in (in_turn, at_once):
            way()  # warm-up: connections
        for _ in range(args.rounds):  # alternate, so drift hits both alike
            for name, way in (("in turn", in_turn), ("at once", at_once)):
                began = time.perf_counter()
                way()
                times[name].append(time.perf_counter() - began)
    finally:
        proxy.terminate()
        moto.terminate()
        proxy.wait(10)
        moto.wait(10)
    turn, once = (statistics.median(times[name]) for name in ("in turn", "at once"))
    print(
        f"S3 (moto) behind {args.latency_ms:g} ms of round trip, a 12 MP job's four files "
        f"({sum(SIZES.values()) / 1e6:.1f} MB), median of {args.rounds}: in turn "
        f"{turn * 1000:.1f} ms, at once {once * 1000:.1f} ms: {turn / once:.2f}x"
    )


if __name__ == "__main__":
    main()
