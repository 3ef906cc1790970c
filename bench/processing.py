"""Benchmark: our image pipeline against a naive Pillow one, on photo-derived inputs.

    .venv/bin/python bench/processing.py [--quick] [--no-e2e | --e2e-only] [--thumbnail-cost]

    BENCH_DATABASE_URL, BENCH_BROKER_URL: end to end on PostgreSQL, Redis... instead
    BENCH_CONCURRENCY, BENCH_WORKER_OPTIONS ("-O default"), BENCH_WORKER_LOG(_LEVEL);
    IMAGEHUB_JOB_PIXELS (0: one image a job) reaches both the API and the worker

Each pipeline runs in its own child process pinned to one core, single-threaded, at the
same JPEG quality (90), with the allocator set as the worker sets it (every child, the
naive baseline's too: the worker's pool children run that way); we report the median time
per image job (decode -> three variants -> encode), images per second per core, output
bytes and the child's peak RSS, and the ratio naive/ours (and against naive in a plain
Python process, the allocator untouched); and the codec floor: one decode and the three
encodes of our codecs, nothing else.

Then end to end: 100 images of 1 MP, and 40 of 12 MP, each in one upload, processed by a
real 2-process worker on the embedded broker, from the 202 to the task's finished_at,
against the ideal: the time two children (one per core, allocator set as the worker sets
it) take to run our pipeline alone on those images, half each. The worker's metrics time
each job's stages; their means show where the rest goes, and the CPU time of each process
(pool children, their parent, the broker, the API here) what it costs.
"""

from __future__ import annotations

import argparse
import io
import multiprocessing
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from PIL import Image, ImageOps

PHOTOS = Path(__file__).parent / "photos"
QUALITY = 90


# --- Inputs -----------------------------------------------------------------------------


def _photo_like(name: str, size: tuple[int, int]) -> Image.Image:
    source = ImageOps.fit(Image.open(PHOTOS / name).convert("RGB"), size, Image.Resampling.LANCZOS)
    grain = Image.effect_noise(size, 24).convert("RGB")
    return Image.blend(source, grain, 0.06)


def make_inputs() -> dict[str, tuple[bytes, str]]:
    out: dict[str, tuple[bytes, str]] = {}
    for label, name, size, image_format in (
        ("12 MP JPEG", "coffee.jpg", (4000, 3000), "JPEG"),
        ("1 MP JPEG", "astronaut.jpg", (1152, 864), "JPEG"),
        ("4 MP PNG", "chelsea.jpg", (2304, 1728), "PNG"),
    ):
        buffer = io.BytesIO()
        image = _photo_like(name, size)
        image.save(buffer, image_format, **({"quality": 92} if image_format == "JPEG" else {}))
        out[label] = (buffer.getvalue(), image_format)
    return out


# --- The two pipelines ----------------------------------------------------------------


def naive(data: bytes, image_format: str) -> int:
    """What most code does: three independent conversions, default settings."""
    image = Image.open(io.BytesIO(data))
    variants = [
        image.rotate(90, expand=True),
        image.convert("L"),
        image.resize((image.width // 2, image.height // 2)),
    ]
    total = 0
    for variant in variants:
        buffer = io.BytesIO()
        params = {"quality": QUALITY} if image_format == "JPEG" else {}
        variant.save(buffer, image_format, **params)
        total += buffer.tell()
    return total


def ours(data: bytes, image_format: str, thumbnail_max_side: int | None = 400) -> int:
    """As the worker runs it: the three variants and the thumbnail."""
    from imagehub.processing.transforms import EncodeOptions, make_variants

    options = EncodeOptions(QUALITY, 3, thumbnail_max_side)
    made = make_variants(data, image_format, options, 64_000_000)
    thumbnail = len(made.thumbnail.data) if made.thumbnail else 0
    return sum(len(v) for v in made.variants.values()) + thumbnail


def ours_without_thumbnail(data: bytes, image_format: str) -> int:
    return ours(data, image_format, thumbnail_max_side=None)


def codec_floor(data: bytes, image_format: str) -> int:
    """One decode and the three encodes our pipeline needs, nothing else: the pixels to
    encode are made before the clock starts (see `_measure`)."""
    return int(_FLOOR_WORK(data, image_format))


def _prepare_floor(data: bytes, image_format: str) -> None:
    """Make the floor's three inputs ahead, so the timed part is only codec calls."""
    global _FLOOR_WORK
    import cv2
    import numpy as np
    import simplejpeg

    if image_format == "JPEG":
        pixels = simplejpeg.decode_jpeg(data, "RGB", fastdct=True, fastupsample=True)
        height, width = pixels.shape[:2]
        rotated = np.ascontiguousarray(cv2.rotate(pixels, cv2.ROTATE_90_COUNTERCLOCKWISE))
        gray = np.ascontiguousarray(cv2.cvtColor(pixels, cv2.COLOR_RGB2GRAY)[:, :, None])
        half = cv2.resize(
            pixels, ((width + 1) // 2, (height + 1) // 2), interpolation=cv2.INTER_AREA
        )

        def work(data: bytes, _: str) -> int:
            simplejpeg.decode_jpeg(data, "RGB", fastdct=True, fastupsample=True)
            encoded = simplejpeg.encode_jpeg(rotated, QUALITY, "RGB", colorsubsampling="420")
            total = len(encoded)
            total += len(simplejpeg.encode_jpeg(gray, QUALITY, "GRAY"))
            total += len(simplejpeg.encode_jpeg(half, QUALITY, "RGB", colorsubsampling="420"))
            return total
    else:
        import pyvips

        from imagehub.processing import vips_png

        image = pyvips.Image.new_from_buffer(data, "").copy_memory()
        made = [
            image.rot270().copy_memory(),
            vips_png._gray(image).copy_memory(),
            vips_png._half(image).copy_memory(),
        ]

        def work(data: bytes, _: str) -> int:
            pyvips.Image.new_from_buffer(data, "").copy_memory()
            return sum(
                len(variant.pngsave_buffer(compression=3, filter="all", keep="icc"))
                for variant in made
            )

    _FLOOR_WORK = work


_FLOOR_WORK: Any = None

PIPELINES = {
    "naive": naive,
    "naive_plain": naive,  # in a plain Python process: the allocator left as it is
    "ours": ours,
    "ours_without_thumbnail": ours_without_thumbnail,
    "floor": codec_floor,
}


def _measure(
    pipeline: str,
    data: bytes,
    image_format: str,
    runs: int,
    core: int,
    queue: Any,
    barrier: Any = None,
) -> None:
    from imagehub.run.worker import keep_freed_memory_for_reuse

    os.sched_setaffinity(0, {core})
    if pipeline != "naive_plain":
        keep_freed_memory_for_reuse()  # as the worker's pool children run
    if pipeline == "floor":
        _prepare_floor(data, image_format)
    function = PIPELINES[pipeline]
    function(data, image_format)  # warm-up: imports, codec tables
    idle = _status_kib("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")  # restart the peak-RSS mark from here
    if barrier is not None:
        barrier.wait()  # the other children start their runs at the same moment
    times, size = [], 0
    for _ in range(runs):
        started = time.perf_counter()
        size = function(data, image_format)
        times.append(time.perf_counter() - started)
    peak = _status_kib("VmHWM")
    queue.put(
        {
            "median": statistics.median(times),
            "bytes": size,
            "peak_mib": peak / 1024,
            "working_mib": (peak - idle) / 1024,
        }
    )


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def measure(
    pipeline: str, data: bytes, image_format: str, runs: int, core: int
) -> dict[str, float]:
    return measure_concurrently(pipeline, data, image_format, runs, [core])


def measure_concurrently(
    pipeline: str, data: bytes, image_format: str, runs: int, cores: list[int]
) -> dict[str, float]:
    """One child per core, all running the pipeline at once, as the worker's pool children
    do: the median time per image over all of them."""
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    barrier = context.Barrier(len(cores))
    children = [
        context.Process(
            target=_measure, args=(pipeline, data, image_format, runs, core, queue, barrier)
        )
        for core in cores
    ]
    for child in children:
        child.start()
    results: list[dict[str, float]] = [queue.get() for _ in children]
    for child in children:
        child.join()
    return {
        "median": statistics.median(r["median"] for r in results),
        "bytes": results[0]["bytes"],
        "peak_mib": max(r["peak_mib"] for r in results),
        "working_mib": max(r["working_mib"] for r in results),
    }


def bench_pipelines(quick: bool) -> dict[str, dict[str, dict[str, float]]]:
    inputs = make_inputs()
    runs = {"12 MP JPEG": 8, "1 MP JPEG": 40, "4 MP PNG": 4}
    rounds = 1 if quick else 3
    core = max(os.sched_getaffinity(0))
    results: dict[str, dict[str, dict[str, float]]] = {}
    print(
        f"pipelines: one child per measurement, pinned to core {core}; median of {rounds} round(s)"
    )
    print(
        f"{'input':<11} {'naive ms':>9} {'ours ms':>8} {'ratio':>6} {'plain':>7} "
        f"{'img/s/core':>11} "
        f"{'floor ms':>9} {'ours/floor':>10} "
        f"{'naive KB':>9} {'ours KB':>8} {'bytes':>6}  peak MiB naive/ours (working set)"
    )
    for label, (data, image_format) in inputs.items():
        per_round: dict[str, list[dict[str, float]]] = {
            "naive": [],
            "naive_plain": [],
            "ours": [],
            "floor": [],
        }
        for _ in range(rounds):  # alternate, so drift on a shared machine hits all alike
            for pipeline in per_round:
                count = max(2, runs[label] // (4 if quick else 1))
                per_round[pipeline].append(measure(pipeline, data, image_format, count, core))
        summary = {
            name: {
                "median": statistics.median(r["median"] for r in rows),
                "bytes": rows[-1]["bytes"],
                "peak_mib": max(r["peak_mib"] for r in rows),
                "working_mib": max(r["working_mib"] for r in rows),
            }
            for name, rows in per_round.items()
        }
        results[label] = summary
        n, o, f = summary["naive"], summary["ours"], summary["floor"]
        plain = summary["naive_plain"]
        print(
            f"{label:<11} {n['median'] * 1000:9.1f} {o['median'] * 1000:8.1f} "
            f"{n['median'] / o['median']:5.2f}x {plain['median'] / o['median']:6.2f}x "
            f"{1 / o['median']:11.1f} "
            f"{f['median'] * 1000:9.1f} {o['median'] / f['median']:9.2f}x "
            f"{n['bytes'] / 1024:9.0f} {o['bytes'] / 1024:8.0f} {o['bytes'] / n['bytes']:5.2f}x  "
            f"{n['peak_mib']:.0f}/{o['peak_mib']:.0f} "
            f"({n['working_mib']:.0f}/{o['working_mib']:.0f})"
        )
    print(
        "ratio = naive time / our time (higher is better); plain = the same against naive run\n"
        "in a plain Python process (the allocator as glibc sets it, not as the worker does);\n"
        "floor = one decode and our three encodes alone; bytes = our output / naive output;\n"
        "peak = the child's peak RSS while measuring; working set = that peak above its idle\n"
        "RSS"
    )
    return results


def bench_thumbnail_cost(quick: bool) -> None:
    """What the thumbnail adds to a job's pipeline: ours with it against ours without, in
    alternating children on one core."""
    inputs = make_inputs()
    runs = {"12 MP JPEG": 8, "1 MP JPEG": 40, "4 MP PNG": 4}
    rounds = 1 if quick else 5
    core = max(os.sched_getaffinity(0))
    print(f"thumbnail cost: with / without, median of {rounds} round(s), core {core}")
    for label, (data, image_format) in inputs.items():
        medians: dict[str, list[float]] = {"ours": [], "ours_without_thumbnail": []}
        for _ in range(rounds):
            for pipeline in medians:
                count = max(2, runs[label] // (4 if quick else 1))
                medians[pipeline].append(
                    measure(pipeline, data, image_format, count, core)["median"]
                )
        with_it = statistics.median(medians["ours"])
        without = statistics.median(medians["ours_without_thumbnail"])
        print(
            f"{label:<11} with {with_it * 1000:7.1f} ms, without {without * 1000:7.1f} ms: "
            f"{with_it / without:.3f}x"
        )


# --- End to end ---------------------------------------------------------------------------

IMAGE_JOBS = "processing.process_images"


def stages_from_metrics(port: int) -> dict[str, tuple[int, float]]:
    """Each stage's (count, total ms), read off the worker's own metrics endpoint; and the
    image jobs' own as "total" (the job duration Celery's signals time)."""
    import httpx
    from prometheus_client.parser import text_string_to_metric_families

    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    sums: dict[str, float] = {}
    counts: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        if family.name not in ("imagehub_image_job_stage_seconds", "imagehub_job_duration_seconds"):
            continue
        for sample in family.samples:
            if sample.labels.get("task", IMAGE_JOBS) != IMAGE_JOBS:
                continue
            stage = sample.labels.get("stage", "total")
            if sample.name.endswith("_sum"):
                sums[stage] = sample.value
            elif sample.name.endswith("_count"):
                counts[stage] = sample.value
    return {stage: (int(counts[stage]), sums[stage] * 1000) for stage in sums if counts.get(stage)}


def bench_end_to_end(label: str, images: int, pipeline_seconds_per_image: float) -> None:
    import asyncio
    import subprocess
    import tempfile
    from datetime import UTC, datetime

    import httpx
    from tests.conftest import make_settings

    from imagehub.core import migrate
    from imagehub.run.api import create_app
    from imagehub.run.embedded import EmbeddedRedis

    data, image_format = make_inputs()[label]
    extension, media_type = (
        ("jpg", "image/jpeg") if image_format == "JPEG" else ("png", "image/png")
    )
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        # Embedded defaults unless told otherwise (e.g. PostgreSQL and Redis on 127.0.0.1).
        database_url = os.environ.get("BENCH_DATABASE_URL") or f"sqlite:///{root / 'bench.db'}"
        migrate.upgrade(database_url)
        broker = EmbeddedRedis(root / "broker")
        broker_url = os.environ.get("BENCH_BROKER_URL") or broker.start()
        secret = "bench-secret-" + "x" * 40
        metrics_port = _free_port()
        env = {
            **os.environ,
            "IMAGEHUB_DATA_DIR": str(root),
            "IMAGEHUB_DATABASE_URL": database_url,
            "IMAGEHUB_BROKER_URL": broker_url,
            "IMAGEHUB_SECRET_KEY": secret,
            "IMAGEHUB_LOG_LEVEL": os.environ.get("BENCH_WORKER_LOG_LEVEL", "WARNING"),
            "IMAGEHUB_WORKER_METRICS_PORT": str(metrics_port),
        }
        worker = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "imagehub",
                "worker",
                "--concurrency=" + os.environ.get("BENCH_CONCURRENCY", "2"),
                *os.environ.get("BENCH_WORKER_OPTIONS", "").split(),  # e.g. "-O default"
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=Path(os.environ.get("BENCH_WORKER_LOG", os.devnull)).open("w"),  # noqa: SIM115
        )
        settings = make_settings(
            root,
            database_url=database_url,
            broker_url=broker_url,
            upload_max_files=max(images, 100),
        )

        cpu_spent: dict[str, float] = {}

        async def run() -> tuple[float, float]:
            app = create_app(settings)
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(
                transport=transport, base_url="http://bench", timeout=300
            ) as client:
                account = {"email": "bench@example.com", "password": "password123"}
                token = (await client.post("/registration", json=account)).json()["access_token"]
                headers = {"Authorization": f"Bearer {token}"}
                await asyncio.sleep(3)  # let the worker come up
                files = [
                    ("files", (f"p{i:03d}.{extension}", data, media_type)) for i in range(images)
                ]
                started = time.perf_counter()
                cpu_before = cpu_seconds(worker.pid)
                accepted = await client.post("/upload", files=files, headers=headers)
                # The clock starts at the 202 (SPEC: "from the 202 to finished_at"), read on
                # this machine's clock, the one the server stamps finished_at with.
                answered_at = datetime.now(UTC)
                upload_seconds = time.perf_counter() - started
                body = accepted.json()
                while body["status"] not in ("done", "partial", "failed"):
                    if worker.poll() is not None:
                        raise RuntimeError(f"the worker stopped (exit code {worker.returncode})")
                    await asyncio.sleep(0.5)  # light polling: finished_at is the server's clock
                    body = (await client.get(f"/status/{body['task_id']}", headers=headers)).json()
                cpu_spent.update(
                    {
                        role: spent - cpu_before[role]
                        for role, spent in cpu_seconds(worker.pid).items()
                    }
                )
            await app.state.services.database.dispose()
            finished = datetime.fromisoformat(body["finished_at"])
            return (finished - answered_at).total_seconds(), upload_seconds

        try:
            elapsed, upload_seconds = asyncio.run(run())
            stages = stages_from_metrics(metrics_port)
        finally:
            worker.terminate()
            worker.wait(30)
            broker.stop()
    ideal = pipeline_seconds_per_image * images / 2
    where = "PostgreSQL" if os.environ.get("BENCH_DATABASE_URL") else "SQLite"
    print(
        f"end to end ({where}): {images} x {label} in one upload, 2 worker processes, "
        f"{settings.job_pixels:,} pixels a job: "
        f"{elapsed:.2f} s from the 202 to finished_at (upload request itself "
        f"{upload_seconds:.2f} s); ideal (the pipeline alone, in 2 processes) {ideal:.2f} s; "
        f"ratio {elapsed / ideal:.2f}x"
    )
    print(
        "  CPU per image (ms), from the upload to the end: "
        + ", ".join(f"{role} {spent / images * 1000:.1f}" for role, spent in cpu_spent.items())
    )
    if not stages:
        print("  (the worker's metrics had no stage figures)")
        return
    jobs, total = stages.pop("total", (images, float("nan")))
    print(
        f"  per image, from the worker's metrics ({jobs} jobs; ms, a job's own stages "
        "shared among its images; share of the worker's time):"
    )
    for name, (count, spent) in stages.items():
        print(f"    {name:<16} {spent / images:8.2f}  {spent / total:6.1%}  ({count} times)")
    print(f"    {'total':<16} {total / images:8.2f}")
    print(f"  pipeline alone, two children at once: {pipeline_seconds_per_image * 1000:.2f} ms")


def cpu_seconds(worker_pid: int) -> dict[str, float]:
    """CPU time so far of the worker's pool parent, its pool children, the broker and this
    process (the API, in process here)."""
    import psutil

    def used(process: psutil.Process) -> float:
        times = process.cpu_times()
        return float(times.user + times.system)

    parent = psutil.Process(worker_pid)
    here = psutil.Process()
    brokers = [p for p in here.children(recursive=True) if p.name().startswith("redis")]
    return {
        "worker parent": used(parent),
        "pool children": sum(used(child) for child in parent.children(recursive=True)),
        "broker": sum(used(broker) for broker in brokers),
        "API": used(here),
    }


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer runs (a smoke test)")
    parser.add_argument("--no-e2e", action="store_true", help="skip the end-to-end part")
    parser.add_argument(
        "--e2e-only",
        action="store_true",
        help="the end-to-end part alone (its ideal from one quick round of our pipeline)",
    )
    parser.add_argument(
        "--thumbnail-cost", action="store_true", help="only what the thumbnail adds to a job"
    )
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).parents[1]))  # tests.conftest helpers
    if args.thumbnail_cost:
        bench_thumbnail_cost(args.quick)
        return
    if not args.e2e_only:
        bench_pipelines(args.quick)
    if args.no_e2e:
        return
    inputs, cores = make_inputs(), sorted(os.sched_getaffinity(0))[:2]
    for label, images in (("1 MP JPEG", 100), ("12 MP JPEG", 40)):
        data, image_format = inputs[label]
        # The ideal: our pipeline alone, in two children at once, as the two pool children
        # run it (they share the machine's caches and memory bandwidth).
        pipeline = measure_concurrently("ours", data, image_format, images // 2, cores)
        bench_end_to_end(label, images, pipeline["median"])


if __name__ == "__main__":
    main()
