"""A real headless Chromium driven by Playwright, against the real app on loopback.

Debian's ``chromium`` (``apt-get install chromium``) is used through ``executable_path``; Playwright's
own browser download (``playwright install``) is never needed; ``scripts/test`` installs chromium
as root. Where no browser is found the tests are skipped with what to install — except under
``CI=true``, where that is a failure. ``CHROMIUM=/path`` points at another Chromium build.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from connector.app import create_app
from connector.sandbox.shopify_admin import ShopifyAdminStandIn
from connector.store.db import close_thread_dbs, get_db, location_of
from tests.browser.harness import AdminStandIn, LiveApp
from tests.browser.world import ORDERS, RefusingFoxdeli, RefusingParcellab
from tests.external_tools import missing, require_tool
from tests.id_tokens import API_KEY, API_SECRET, PREVIOUS_API_SECRET
from tests.support import SHOP, make_settings
from tests.tenancy_env import OPERATOR_ESHOP, PL_OPERATOR_TOKEN, add_merchant_accounts, install

# Chromium blocks a public page (the admin stand-in at https://admin.shopify.com) from framing a
# loopback address (Local Network Access); the real admin frames a public app URL.
LAUNCH_ARGS = ["--disable-features=LocalNetworkAccessChecks,BlockInsecurePrivateNetworkRequests,PrivateNetworkAccessSendPreflights"]


def chromium_path() -> str:
    """$CHROMIUM if set, else Debian's chromium (skip locally, fail under CI=true, when absent)."""
    if os.environ.get("CHROMIUM"):
        return os.environ["CHROMIUM"]
    return require_tool("chromium", "chromium", "the embedded app's browser tests")


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing("Playwright is not installed: `pip install -e '.[test]'` (never `playwright install`)")
    executable = chromium_path()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, headless=True, args=LAUNCH_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def app_settings(tmp_path: Path) -> Any:
    return make_settings(tmp_path, **{
        "shopify.api_key": API_KEY, "shopify.api_secret": API_SECRET, "shopify.previous_api_secret": PREVIOUS_API_SECRET,
    })


@pytest.fixture
def live_app(app_settings: Any) -> Iterator[LiveApp]:
    app = create_app(settings=app_settings)
    # The shop is installed with its offline token: opening the app needs no token exchange (its
    # own tests are in tests/test_token_exchange.py).
    install(app_settings, get_db(location_of(app_settings)), SHOP)
    with LiveApp(app) as live:
        yield live
    close_thread_dbs()


@pytest.fixture
def context(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1100, "height": 800}, service_workers="block")
    yield context
    context.close()


@pytest.fixture
def admin(context: Any, live_app: LiveApp) -> AdminStandIn:
    return AdminStandIn(context, live_app.url)


@pytest.fixture
def page(context: Any) -> Iterator[Any]:
    page = context.new_page()
    page.console_messages_seen = []  # type: ignore[attr-defined]
    page.page_errors_seen = []  # type: ignore[attr-defined]
    page.on("console", lambda message: page.console_messages_seen.append(message))
    page.on("pageerror", lambda error: page.page_errors_seen.append(error))
    yield page


@pytest.fixture
def platforms() -> Iterator[tuple[RefusingFoxdeli, RefusingParcellab, ShopifyAdminStandIn]]:
    """Foxdeli and parcelLab (each holding the operator's and the merchants' accounts) and Shopify."""
    with RefusingFoxdeli(eshop_id=OPERATOR_ESHOP) as fox, RefusingParcellab(token=PL_OPERATOR_TOKEN) as pl, \
            ShopifyAdminStandIn(orders=ORDERS, restore_rate=4000) as shopify:
        add_merchant_accounts(fox, pl)
        yield fox, pl, shopify  # type: ignore[misc]
