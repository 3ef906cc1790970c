"""The web pages in a real headless Chromium, against `imagehub serve` on 127.0.0.1.

One person's afternoon: register, upload two real photographs, watch the task finish,
download the zip, see a refused file's reason, read the history; become a moderator (CLI),
change statuses by click and by keyboard, read an image's history, see the statistics move;
become an admin, track a GitHub user (the fake GitHub) and see their chart. Every page is
also checked at phone width, and every screenshot is saved under test-output/screenshots.
"""

from __future__ import annotations

import io
import re
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from PIL import Image

from tests.conftest import free_port, service_unavailable
from tests.platform.processes import imagehub_env, start_imagehub, stop_process_tree, wait_for
from tests.repostats.conftest import github  # noqa: F401  (the fake GitHub fixture)
from tests.repostats.fake_github import FakeGitHub
from tests.repostats.helpers import TOKEN

pytestmark = pytest.mark.slow

ROOT = Path(__file__).parents[2]
PHOTOS = ROOT / "bench" / "photos"
SCREENSHOTS = ROOT / "test-output" / "screenshots"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]  # fmt: skip
# Shown as text everywhere, never as markup (escaping that failed would make a <b>).
HOSTILE_GROUP = 'Holiday <b>2026</b> & "friends"'


class Service:
    def __init__(self, base: str, env: dict[str, str]) -> None:
        self.base = base
        self.env = env

    def cli(self, *args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "imagehub", *args],
            env=self.env, capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout


@pytest.fixture
def service(tmp_path: Path, github: FakeGitHub) -> Iterator[Service]:  # noqa: F811
    port = free_port()
    env = imagehub_env(
        tmp_path / "data", port=str(port), github_api_url=github.url, github_token=TOKEN,
        # One GraphQL page from a list's newest end: a capped list keeps days to estimate.
        github_history_newest_pages="1",
    )  # fmt: skip
    log = tmp_path / "serve.log"
    process = start_imagehub(["serve"], env, log)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: httpx.get(f"{base}/healthz", timeout=2).is_success, 60, "/healthz", log)
        yield Service(base, env)
    finally:
        stop_process_tree(process)


@pytest.fixture
def browser() -> Iterator[object]:
    if not CHROMIUM.exists():
        service_unavailable("Chromium (apt-get install chromium)", f"{CHROMIUM} not found")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


UNLABELLED_CONTROLS = """
[...document.querySelectorAll("input, select, textarea, button")]
  .filter((c) => c.type !== "hidden")
  .filter((c) => !(c.labels && c.labels.length) && !c.getAttribute("aria-label")
                 && !c.textContent.trim())
  .map((c) => c.outerHTML.slice(0, 80))
"""
JPEG_NAME = "café <b>.jpg"  # Unicode, and markup that must stay text


def photographs(tmp_path: Path) -> list[Path]:
    """A real photograph as a JPEG, and another one as a PNG."""
    jpeg, png = tmp_path / JPEG_NAME, tmp_path / "rocket.png"
    shutil.copy(PHOTOS / "coffee.jpg", jpeg)
    Image.open(PHOTOS / "rocket.jpg").save(png)
    return [jpeg, png]


def test_a_whole_afternoon_in_the_browser(
    tmp_path: Path,
    service: Service,
    browser: object,
    github: FakeGitHub,  # noqa: F811
) -> None:
    from playwright.sync_api import (
        Browser,
        ConsoleMessage,
        Dialog,
        Error,
        FilePayload,
        Page,
        Route,
        expect,
    )

    assert isinstance(browser, Browser)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    octocat = github.add_user(583231, "octocat", repos=4)
    # The most starred repository (shown first): 6 stars a day for the 58 days before the
    # one before yesterday, past a REST cap of one page, so its chart has reconstructed
    # days and, between the list's two ends, estimated ones.
    github.page_cap = 1
    begun = datetime.now(UTC) - timedelta(days=60)
    stars = [begun + timedelta(days=i // 6, hours=i % 6) for i in range(348)]
    github.give_history(octocat.repos[0], stars, stars[::30])
    context = browser.new_context(base_url=service.base, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(20_000)
    page = context.new_page()
    problems: list[str] = []
    # The browser logs every 4xx answer; the ones this test provokes on purpose are
    # expected. Anything else (a CSP violation, a script error) is a problem.
    expected = (
        "400 (Bad Request)",
        "401 (Unauthorized)",
        "403 (Forbidden)",
        "net::ERR_CONNECTION_RESET",
    )

    def on_page_error(error: Error) -> None:
        problems.append(f"page error: {error}")

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error" and not message.text.endswith(expected):
            problems.append(f"console: {message.text}")

    def on_dialog(dialog: Dialog) -> None:
        problems.append(f"dialog: {dialog.message}")
        dialog.dismiss()

    page.on("pageerror", on_page_error)
    page.on("console", on_console)
    page.on("dialog", on_dialog)

    def shot(name: str, target: Page = page) -> None:
        target.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)

    # --- Sign in / register -------------------------------------------------------------
    page.goto("/")
    expect(page).to_have_url(f"{service.base}/app/sign-in?next=/app/upload")
    shot("sign-in")
    email, password = "ada@example.com", "correct horse battery"
    page.get_by_label("Password (at least 8 characters)").fill("short")
    page.locator("#register-email").fill(email)
    page.get_by_role("button", name="Create the account").click()
    expect(page.locator("#register-error")).to_contain_text("password")  # the server's words
    page.get_by_label("Password (at least 8 characters)").fill(password)
    page.get_by_label("First name").fill("Ada")
    page.get_by_role("button", name="Create the account").click()
    expect(page).to_have_url(f"{service.base}/app/upload")
    cookies = {c["name"]: c for c in context.cookies()}
    assert cookies["imagehub_session"]["httpOnly"] is True
    assert cookies["imagehub_session"]["sameSite"] == "Strict"
    assert page.evaluate("document.cookie") == ""  # scripts cannot read the session

    # --- A refused file shows the server's reason next to it ----------------------------
    page.locator("#files").set_input_files(
        [FilePayload(name="notes.png", mimeType="image/png", buffer=b"just some text")]
    )
    page.get_by_role("button", name="Upload").click()
    expect(page.locator("#chosen li", has_text="notes.png").locator(".error")).to_be_visible()
    expect(page.locator("#upload-error")).to_contain_text("nothing was stored")
    page.get_by_role("button", name="Remove notes.png").click()

    # --- Upload two photographs and watch the task finish --------------------------------
    page.locator("#files").set_input_files([str(p) for p in photographs(tmp_path)])
    expect(page.locator("#chosen li")).to_have_count(2)
    page.get_by_label("Group").fill(HOSTILE_GROUP)
    # The first try fails on the network; the person clicks again: the page sends the same
    # Idempotency-Key, so had the first reached the server, the second would get its task.
    keys: list[str | None] = []

    def fail_the_first_try(route: Route) -> None:
        keys.append(route.request.headers.get("idempotency-key"))
        if len(keys) == 1:
            route.abort("connectionreset")
        else:
            route.continue_()

    page.route("**/upload", fail_the_first_try)
    page.get_by_role("button", name="Upload").click()
    expect(page.locator("#upload-error")).to_be_visible()
    page.get_by_role("button", name="Upload").click()
    expect(page.locator("#task")).to_have_attribute("data-status", "done", timeout=60_000)
    page.unroute("**/upload")
    assert len(keys) == 2
    assert keys[0]
    assert keys[0] == keys[1]
    # Its answer lost, the same upload sent again with that key is that task; nothing new.
    task_href = str(page.locator("#zip-link").get_attribute("href"))
    session = {c["name"]: c["value"] for c in context.cookies()}
    retried = httpx.post(
        f"{service.base}/upload",
        cookies=session,
        headers={
            "Idempotency-Key": keys[0],
            "X-CSRF-Token": page.evaluate(
                "document.querySelector('meta[name=csrf-token]').content"
            ),
        },
        files=[("files", (p.name, p.read_bytes())) for p in photographs(tmp_path)],
        data={"group": HOSTILE_GROUP.strip()},
        timeout=30,
    )
    assert retried.status_code == 202, retried.text
    assert task_href == f"/task/{retried.json()['task_id']}"
    expect(page.locator("#task-status")).to_contain_text("2 of 2")
    thumbnails = page.locator("#task-images img")
    expect(thumbnails).to_have_count(8)
    page.wait_for_function(
        "[...document.querySelectorAll('#task-images img')]"
        ".every(i => i.complete && i.naturalWidth > 0)"
    )
    assert thumbnails.first.get_attribute("alt") == f"{JPEG_NAME}, original"
    assert page.locator("#task-images b").count() == 0
    shot("upload")
    with page.expect_download() as download:
        page.get_by_role("link", name="Download zip").click()
    archive = zipfile.ZipFile(io.BytesIO(Path(download.value.path()).read_bytes()))
    assert sorted(archive.namelist()) == sorted(
        f"{stem}_{variant}.{ext}"
        for stem, ext in (("café <b>", "jpg"), ("rocket", "png"))
        for variant in ("original", "rotated", "gray", "scaled")
    )

    # --- History --------------------------------------------------------------------------
    page.get_by_role("link", name="History").click()
    expect(page.locator("#history > li")).to_have_count(2)
    expect(page.locator("#history")).to_contain_text("rocket.png")
    expect(page.locator("#history")).to_contain_text(JPEG_NAME)
    assert page.locator("#history b").count() == 0
    shot("history")

    # --- Moderation needs the role: promoted by the CLI, effective at once ----------------
    page.goto("/app/moderation")
    expect(page.locator("main")).to_contain_text("needs the moderator role")
    service.cli("user", "promote", email, "--role", "moderator")
    page.goto("/app/statistics")
    expect(page.locator("#created-table tr[data-status=new] td").last).to_have_text("2")
    expect(page.locator("#created-chart svg[role=img]")).to_be_visible()

    page.get_by_role("link", name="Moderation").click()
    group = page.locator("section.group").first
    # The group name is text: no element was made from it.
    expect(group.locator("h2")).to_contain_text(HOSTILE_GROUP)
    assert group.locator("h2 b").count() == 0
    tiles = group.locator(".tile")
    expect(tiles).to_have_count(2)
    # What a moderator judges by: the whole image, its name, its uploader, its size.
    expect(group.locator(".tile .upload", has_text=JPEG_NAME)).to_contain_text(email)
    expect(group.locator(".tile .upload", has_text="rocket.png")).to_contain_text("640\u00d7427")
    fit = page.locator(".tile img").first.evaluate("(i) => getComputedStyle(i).objectFit")
    assert fit == "contain"
    tiles.nth(0).get_by_role("button", name="accepted").click()
    expect(tiles.nth(0).get_by_role("button", name="accepted")).to_have_attribute(
        "aria-pressed", "true"
    )
    tiles.nth(1).focus()
    page.keyboard.press("r")  # review, from the keyboard
    expect(tiles.nth(1).get_by_role("button", name="review")).to_have_attribute(
        "aria-pressed", "true"
    )
    page.keyboard.press("h")
    dialog = page.locator("#history-dialog")
    expect(dialog).to_be_visible()
    expect(dialog.locator("tbody tr")).to_have_count(1)
    expect(dialog.locator("tbody")).to_contain_text(email)
    shot("moderation-history")
    dialog.get_by_role("button", name="Close").click()
    expect(page.get_by_role("button", name="Load more groups")).to_be_hidden()  # one page
    shot("moderation")
    page.get_by_label("Show images").select_option("review")
    expect(page.locator(".tile")).to_have_count(1)

    # --- The statistics moved ----------------------------------------------------------------
    page.get_by_role("link", name="Statistics").click()
    for table in ("created", "changed"):
        rows = page.locator(f"#{table}-table")
        expect(rows.locator("tr[data-status=new] td").last).to_have_text("0")
        expect(rows.locator("tr[data-status=review] td").last).to_have_text("1")
        expect(rows.locator("tr[data-status=accepted] td").last).to_have_text("1")
    expect(page.locator("#daily-chart svg[role=img]")).to_be_visible()
    expect(page.locator("#backlog")).to_have_text("1")  # the one in review
    expect(page.locator("#daily-table tbody tr")).to_have_count(30)
    shot("statistics")

    # --- Several at once: a group selected, one status for all, in one request -------------
    page.get_by_role("link", name="Moderation").click()
    group = page.locator("section.group").first
    tiles = group.locator(".tile")
    tiles.nth(0).focus()
    page.keyboard.press("x")  # select from the keyboard
    expect(page.locator("#bulk-count")).to_have_text("1 image(s) selected")
    page.get_by_role("button", name="Clear the selection").click()
    expect(page.locator("#bulk")).to_be_hidden()
    group.get_by_role("button", name="Select the 2 shown").click()
    expect(page.locator("#bulk-count")).to_have_text("2 image(s) selected")
    with page.expect_request(lambda r: r.url.endswith("/images/status")) as sent:
        page.locator("#bulk").get_by_role("button", name="Set to accepted").click()
    assert sent.value.method == "PUT"
    expect(tiles.locator('button[data-status="accepted"][aria-pressed="true"]')).to_have_count(2)
    expect(page.locator("#bulk")).to_be_hidden()
    shot("moderation-bulk")

    # --- More groups load as the page scrolls (the API's cursor) ---------------------------
    csrf = page.locator('meta[name="csrf-token"]').get_attribute("content")
    imported = page.request.post(
        "/images",
        data=[
            {"group": f"imported {n:02d}", "url": f"{service.base}/static/web/favicon.svg?{n}"}
            for n in range(25)
        ],
        headers={"X-CSRF-Token": csrf or ""},
    )
    assert imported.ok, imported.text()
    page.get_by_role("link", name="Moderation").click()
    # The first page (20); the observer may fetch the next at once when the sentinel is in
    # view already, so "exactly 20" is not something the page promises.
    expect(page.locator("section.group").nth(19)).to_be_attached()
    page.locator("#sentinel").scroll_into_view_if_needed()
    expect(page.locator("section.group")).to_have_count(26)  # the rest, oldest last
    expect(page.locator("section.group").last.locator("h2")).to_contain_text(HOSTILE_GROUP)
    expect(page.get_by_role("button", name="Load more groups")).to_be_hidden()

    # --- Repo stats: an admin tracks a GitHub user; the worker's first scan draws a chart --
    service.cli("user", "promote", email, "--role", "admin")
    page.get_by_role("link", name="Repo stats").click()
    page.get_by_label("Track a GitHub user").fill("octocat")
    page.get_by_role("button", name="Track").click()
    expect(page.locator("#tracked button", has_text="octocat")).to_be_visible()
    wait_for(lambda: page.request.get("/v1/users").json()[0]["scanned_on"], 60, "the first scan")

    def history_state() -> str:
        return str(page.request.get("/v1/users/583231").json()["history"]["state"])

    # The worker reads the history right after the first scan.
    wait_for(lambda: history_state() == "estimated", 60, "the history backfill")
    page.reload()
    expect(page.locator("#repo option")).to_have_count(4)
    expect(page.locator("#repo")).to_have_value(str(octocat.repos[0].id))
    expect(page.locator("#history-state")).to_contain_text("estimated")
    expect(page.locator("#history-state")).to_contain_text("4 of 4 repositories read")
    chart = page.locator("#repo-chart svg[role=img]")
    expect(chart).to_be_visible()
    # The last 30 days: reconstructed (dashed) up to yesterday, then today's reading (a dot).
    dashed = chart.locator("polyline.reconstructed.series-0")
    expect(dashed.first).to_be_visible()
    assert dashed.first.evaluate("(line) => getComputedStyle(line).strokeDasharray") != "none"
    assert chart.locator("circle.series-0").count() == 1  # one day read: today
    expect(page.locator("#repo-table tbody tr")).to_have_count(30)
    expect(page.locator("#repo-table tbody tr.scan")).to_have_count(1)
    # Totals with what they gained: nothing since yesterday's reconstructed 348; some
    # in the week (the last stars came three days ago).
    expect(page.locator("#repo-totals dt").first).to_have_text("Stars")
    stars_total = page.locator("#repo-totals dd").first
    expect(stars_total).to_contain_text("348")
    expect(stars_total).to_contain_text("+0 a day")
    expect(stars_total).to_have_text(re.compile(r"\+\d+ a week"))
    assert "+0 a week" not in stars_total.inner_text()
    shot("repos")

    # 90 days: the whole history, with the stretch between the list's two ends shaded.
    page.get_by_role("button", name="90 days").click()
    expect(page.get_by_role("button", name="90 days")).to_have_attribute("aria-pressed", "true")
    # Every day from the first star, 60 days ago, to today's reading: drawn anew (the
    # 30 days had a band too, which the redraw replaces).
    expect(page.locator("#repo-table tbody tr")).to_have_count(61)
    band = chart.locator("rect.estimated-band")
    expect(band.first).to_be_visible()
    box = band.first.bounding_box()
    assert box is not None
    assert box["width"] > 20  # several days wide, not a hairline
    expect(page.locator("#repo-chart .legend")).to_contain_text("estimated")
    expect(page.locator("#repo-chart .legend")).to_contain_text("reconstructed")
    expect(page.locator("#repo-table tbody tr.estimated").first).to_be_attached()
    shot("repos-history")

    # --- Phone width: nothing wider than the screen ------------------------------------------
    phone = browser.new_context(
        base_url=service.base,
        viewport={"width": 390, "height": 844},
        storage_state=context.storage_state(),
    )
    small = phone.new_page()
    for name in ("upload", "history", "moderation", "statistics", "repos", "account"):
        small.goto(f"/app/{name}")
        small.wait_for_load_state("networkidle")
        overflow = small.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        wide = small.evaluate(
            "[...document.querySelectorAll('body *')].filter((e) =>"
            " e.getBoundingClientRect().right > window.innerWidth + 1).map((e) =>"
            " e.tagName + '#' + e.id + '.' + e.className).slice(0, 8)"
        )
        assert overflow <= 0, f"{name} is {overflow}px wider than a phone: {wide}"
        # Accessible basics: every control is labelled, every image has a text alternative.
        unlabelled = small.evaluate(UNLABELLED_CONTROLS)
        assert unlabelled == [], f"{name}: controls without a label: {unlabelled}"
        assert small.locator("img:not([alt])").count() == 0, name
        for chart in small.locator(".chart svg").all():
            # Drawn at the width shown: a 12-unit label reads at 12 px, not shrunk to 6.
            scale = chart.evaluate(
                "(s) => s.getBoundingClientRect().width / s.viewBox.baseVal.width"
            )
            assert scale >= 0.95, f"{name}: a chart drawn {1 / scale:.1f}x wider than shown"
        shot(f"phone-{name}", small)
    phone.close()

    # --- The account page shows what is stored -------------------------------------------
    page.get_by_role("link", name="Ada").click()
    expect(page).to_have_url(f"{service.base}/app/account")
    expect(page.locator("#images-today")).to_have_text("2")
    stored = page.request.get("/users/me").json()["usage"]["bytes_stored"]
    assert stored > 1024 * 1024  # the two photographs, their copies and thumbnails
    expect(page.locator("#bytes-stored")).to_have_text(f"{stored / 1024 / 1024:.1f} MiB")
    shot("account")

    # --- Deleting a task from the history asks first, then takes every image of it --------
    page.goto("/app/history")
    expect(page.locator("#history > li")).to_have_count(2)
    first = page.locator("#history > li").first
    first.get_by_role("button", name="Delete task…").click()
    expect(first.get_by_role("alert")).to_contain_text("every image uploaded with it")
    first.get_by_role("button", name="Keep").click()
    expect(page.locator("#history > li")).to_have_count(2)
    first.get_by_role("button", name="Delete task…").click()
    first.get_by_role("button", name="Delete", exact=True).click()
    expect(page.locator("#history > li")).to_have_count(0)
    expect(page.locator("#history-empty")).to_be_visible()
    task_id = task_href.removeprefix("/task/")
    assert page.request.get(f"/status/{task_id}").status == 404
    page.reload()
    expect(page.locator("#history-empty")).to_be_visible()
    page.goto("/app/account")
    expect(page.locator("#bytes-stored")).to_have_text("0 B")

    # --- Signing out ends the session ------------------------------------------------------------
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(f"{service.base}/app/sign-in")
    page.goto("/app/history")
    expect(page).to_have_url(f"{service.base}/app/sign-in?next=/app/history")
    # ?next= only ever leads to our own pages (no open redirect).
    page.goto("/app/sign-in?next=//evil.example/")
    page.locator("#sign-in-email").fill(email)
    page.locator("#sign-in-password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{service.base}/app/upload")

    # --- Deleting the account takes the password, then the account is gone ------------------
    page.goto("/app/account")
    page.get_by_label("Your password").fill("not my password")
    page.get_by_role("button", name="Delete my account and everything in it").click()
    expect(page.locator("#delete-error")).to_contain_text("password")
    page.get_by_label("Your password").fill(password)
    page.get_by_role("button", name="Delete my account and everything in it").click()
    expect(page).to_have_url(f"{service.base}/app/sign-in")
    page.locator("#sign-in-email").fill(email)
    page.locator("#sign-in-password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#sign-in-error")).to_contain_text("Incorrect")
    context.close()
    assert problems == []
