"""What the pages cost a moderator's and an uploader's connection, with camera-size photos:
ten 12 MP JPEGs (about 1 MB each) uploaded through the upload page, then the moderation
board opened. Bytes are counted as the browser received them (Chromium's own network
events, encoded sizes), against budgets."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageOps

from tests.platform.processes import healthy, imagehub_env, start_serve, stop_process_tree, wait_for
from tests.web.test_pages_in_a_browser import PHOTOS, Service, browser  # noqa: F401

pytestmark = pytest.mark.slow

MB = 1_000_000
PHOTO_NAMES = ["coffee.jpg", "astronaut.jpg", "chelsea.jpg", "rocket.jpg"]


def camera_photos(folder: Path, count: int = 10) -> list[Path]:
    """12 MP JPEGs made from real photographs, with a little grain (what sensors give)."""
    paths = []
    for n in range(count):
        source = Image.open(PHOTOS / PHOTO_NAMES[n % len(PHOTO_NAMES)]).convert("RGB")
        photo = ImageOps.fit(source, (4000, 3000), Image.Resampling.BICUBIC)
        grain = Image.effect_noise((4000, 3000), 20 + n).convert("RGB")
        out = io.BytesIO()
        Image.blend(photo, grain, 0.05).save(out, "JPEG", quality=90)
        path = folder / f"camera-{n:02d}.jpg"
        path.write_bytes(out.getvalue())
        paths.append(path)
    return paths


class Received:
    """Bytes the page received over the network (Chromium's encodedDataLength), including
    headers; a response served from the browser's cache adds nothing."""

    def __init__(self, page: Any) -> None:
        self.bytes = 0
        session = page.context.new_cdp_session(page)
        session.send("Network.enable")
        session.on("Network.loadingFinished", self._finished)

    def _finished(self, event: dict[str, Any]) -> None:
        self.bytes += int(event.get("encodedDataLength", 0))

    def take(self) -> int:
        taken, self.bytes = self.bytes, 0
        return taken


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Service]:
    base, process, log = start_serve(tmp_path)
    try:
        wait_for(lambda: healthy(base), 60, "/healthz", log)
        yield Service(base, imagehub_env(tmp_path / "data"))
    finally:
        stop_process_tree(process)


SHOWN = "(s) => [...document.querySelectorAll(s)].every(i => i.complete && i.naturalWidth > 0)"


def all_images_shown(page: Any, selector: str) -> None:
    # Polled from here: the pages' CSP forbids the string evaluation wait_for_function uses.
    wait_for(lambda: page.evaluate(SHOWN, selector), 60, f"every {selector} shown")


def test_camera_photos_stay_within_the_page_budgets(
    tmp_path: Path,
    service: Service,
    browser: Any,  # noqa: F811
) -> None:
    from playwright.sync_api import expect

    photos = camera_photos(tmp_path)
    sizes = [p.stat().st_size for p in photos]
    assert 0.6 * MB < sum(sizes) / len(sizes) < 2.5 * MB  # camera-like files
    email, password = "weights@example.com", "correct horse battery"
    context = browser.new_context(base_url=service.base, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(60_000)
    page = context.new_page()
    registered = page.request.post("/registration", data={"email": email, "password": password})
    assert registered.ok
    service.cli("user", "promote", email, "--role", "moderator")
    assert page.request.post("/session", data={"email": email, "password": password}).ok

    page.goto("/app/upload")
    received = Received(page)
    page.locator("#files").set_input_files([str(p) for p in photos])
    page.get_by_role("button", name="Upload").click()
    expect(page.locator("#task")).to_have_attribute("data-status", "done", timeout=120_000)
    all_images_shown(page, "#task-images img")
    after_upload = received.take()

    page.goto("/app/moderation")
    expect(page.locator(".tile")).to_have_count(10)
    all_images_shown(page, ".tile img")
    page.wait_for_load_state("networkidle")
    board = received.take()

    page.goto("/app/moderation")
    expect(page.locator(".tile")).to_have_count(10)
    all_images_shown(page, ".tile img")
    page.wait_for_load_state("networkidle")
    board_again = received.take()
    context.close()

    print(
        f"upload page after 10 x 12 MP: {after_upload / MB:.2f} MB; board: {board / MB:.2f} MB;"
        f" board again: {board_again / MB:.3f} MB ({board_again / board:.1%})"
    )
    assert after_upload <= 1.5 * MB
    assert board <= 1 * MB
    assert board_again <= 0.05 * board  # the same links, kept by the browser
