"""The API docs as a person meets them, in headless Chromium against `imagehub serve`:
Swagger UI renders every operation (no "unable to render"), Authorize logs in with the
password flow, and "Try it out" on GET /users/me shows a 200 with the account. ReDoc too."""

from __future__ import annotations

import httpx
import pytest

from tests.repostats.conftest import github  # noqa: F401  (the fake GitHub, for `service`)
from tests.web.test_pages_in_a_browser import SCREENSHOTS, Service, browser, service  # noqa: F401

pytestmark = pytest.mark.slow

EMAIL, PASSWORD = "docs@example.com", "correct horse battery"


def test_swagger_ui_renders_authorizes_and_tries_users_me(
    service: Service,  # noqa: F811
    browser: object,  # noqa: F811
) -> None:
    from playwright.sync_api import Browser, expect

    assert isinstance(browser, Browser)
    account = {"email": EMAIL, "password": PASSWORD}
    assert httpx.post(f"{service.base}/registration", json=account).status_code == 201
    page = browser.new_page(base_url=service.base)
    page.set_default_timeout(20_000)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto("/docs")

    # Rendered: the document's operations are listed, not an error about its version.
    expect(page.locator(".opblock").first).to_be_visible()
    assert page.get_by_text("Unable to render this definition").count() == 0
    operations = page.locator(".opblock-summary-path").all_inner_texts()
    assert "/users/me" in [text.strip() for text in operations]
    assert len(operations) >= 25

    # Authorize with the OAuth2 password flow: our email as the username.
    page.locator("button.authorize").first.click()
    page.locator("#oauth_username").fill(EMAIL)
    page.locator("#oauth_password").fill(PASSWORD)
    page.locator(".auth-btn-wrapper button.authorize").click()
    expect(page.get_by_text("Authorized", exact=False).first).to_be_visible()
    page.locator(".auth-btn-wrapper button.btn-done").click()

    # Try it out on GET /users/me: a 200 with our account, as rendered.
    operation = page.locator(
        ".opblock-get", has=page.locator(".opblock-summary-path", has_text="/users/me")
    )
    operation.locator(".opblock-summary").click()
    operation.locator("button.try-out__btn").click()
    operation.locator("button.execute").click()
    live = operation.locator(".live-responses-table .response")
    expect(live.locator(".response-col_status")).to_have_text("200")
    expect(live.locator(".response-col_description")).to_contain_text(EMAIL)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "docs.png"), full_page=False)

    page.goto("/redoc")
    expect(page.get_by_role("menuitem", name="moderation")).to_be_visible()
    expect(page.locator("h1", has_text="imagehub")).to_be_visible()
    assert errors == []
    page.close()
