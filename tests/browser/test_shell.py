"""The embedded page in a real browser: framed by the admin, tokens, bounce page, CSP, phone width."""

from __future__ import annotations

import pytest

from tests.browser.harness import SHOP, app_frame, iter_console_problems, open_app

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def problems(page) -> list[str]:  # type: ignore[no-untyped-def]
    return [*map(str, page.page_errors_seen), *iter_console_problems(page.console_messages_seen)]


def test_the_admin_frames_the_page_and_app_bridge_signs_its_fetches(page, admin):
    frame = open_app(page, admin)
    assert frame.evaluate("document.body.dataset.page") == "home"
    assert frame.evaluate("fetch('/app/api/session').then(r => r.json())") == {"shop": SHOP}
    assert frame.evaluate("window.shopify.config.apiKey") == admin.api_key
    assert not [p for p in problems(page) if "Content Security Policy" in p or "Refused" in p]


def test_a_stale_token_mid_session_is_retried_with_a_fresh_one(page, admin):
    frame = open_app(page, admin)
    issued = admin.tokens_issued
    admin.stale_tokens_to_issue = 1
    status = frame.evaluate("fetch('/app/api/session').then(r => r.status)")
    assert status == 200  # 401 + retry header → App Bridge fetched a fresh token and retried
    assert admin.tokens_issued == issued + 2


def test_a_page_opened_with_a_stale_token_recovers_through_the_bounce_page(page, admin):
    visited: list[str] = []
    page.on("framenavigated", lambda f: visited.append(f.url))
    admin.stale_tokens_to_issue = 1  # the admin frames the app with a token that expired an hour ago
    page.goto(admin.admin_url("/app/settings"))
    frame = app_frame(page, admin)
    # A selector, not wait_for_function: its string predicate is eval'd in the page, which the
    # app's CSP (no 'unsafe-eval') refuses when the poll lands in the reloaded document.
    frame.wait_for_selector("body[data-page='settings']", state="attached")
    assert any("/auth/patch-id-token?" in url for url in visited)
    assert frame.url.startswith(f"{admin.app_url}/app/settings?") and "shopify-reload" not in frame.url
    frame.wait_for_selector("main:not([aria-busy])", state="attached")
    assert frame.inner_text("body").strip()  # never a blank frame


def test_links_navigate_through_the_admin_with_a_fresh_token(page, admin):
    frame = open_app(page, admin)
    frame.click("s-app-nav s-link[href='/app/orders']")
    frame.wait_for_url(f"{admin.app_url}/app/orders?**")
    frame = app_frame(page, admin)
    frame.wait_for_selector("body[data-page='orders']", state="attached")
    assert "id_token=" in frame.url and "embedded=1" in frame.url


def test_no_other_site_can_frame_the_page(page, admin, context):
    src = f"{admin.app_url}/app?{admin.app_query()}"
    context.route("https://evil.example/**", lambda route: route.fulfill(
        status=200, content_type="text/html", body=f"<iframe src='{src}'></iframe>"))
    page.goto("https://evil.example/")
    page.wait_for_timeout(500)
    inner = [f for f in page.frames if f != page.main_frame]
    assert inner and not inner[0].url.startswith(admin.app_url)  # blocked: chrome-error page
    assert any("frame-ancestors" in p for p in problems(page))


def test_nothing_is_kept_in_cookies_or_storage(page, admin, context):
    frame = open_app(page, admin)
    frame.evaluate("fetch('/app/api/session')")
    assert context.cookies() == []
    assert frame.evaluate("localStorage.length + sessionStorage.length") == 0


def test_the_page_fits_a_phone(page, admin):
    page.set_viewport_size({"width": 375, "height": 740})
    frame = open_app(page, admin)
    assert frame.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
