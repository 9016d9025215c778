"""What the walk-throughs leave out, in a real browser: the red banner when the platform stops
accepting the saved credentials (it stays until they are fixed, and the fix releases the shop's
orders), and paging through a store with more orders than one page holds."""

from __future__ import annotations

from typing import Any

import pytest

from connector.store.db import close_thread_dbs, db_for
from tests.browser.merchant import Merchant
from tests.browser.world import World
from tests.id_tokens import API_SECRET
from tests.support import webhook_headers
from tests.tenancy_env import ESHOP_A, FOX_A, SHOP_A, connect_account, order_for

pytestmark = [pytest.mark.browser, pytest.mark.slow]
CREDENTIALS_BANNER = "Foxdeli no longer accepts the saved credentials."
PAGE_SIZE = 50  # connector/web/static/js/orders.js


@pytest.fixture
def world(tmp_path, context, platforms):  # type: ignore[no-untyped-def]
    world = World(tmp_path, context, SHOP_A, *platforms)
    connect_account(db_for(world.settings), world.settings, SHOP_A, "foxdeli", **FOX_A)
    yield world
    world.close()
    close_thread_dbs()


def receive(world: World, *numbers: int) -> None:
    """Shopify delivers orders/create for orders named #<number>."""
    client = world.app.test_client()
    for number in numbers:
        body = order_for(number, id=7_000_000 + number)
        headers = webhook_headers(body, shop=world.shop, secret=API_SECRET, webhook_id=f"order-{number}")
        assert client.post("/webhooks/shopify", data=body, headers=headers).status_code == 200


def test_refused_credentials_show_a_red_banner_until_the_merchant_fixes_them(world: World, page: Any) -> None:
    receive(world, 1001)
    world.deliver()
    assert len(world.fox.orders_of(ESHOP_A)) == 1
    # The merchant changes the API user's password at Foxdeli; the old session ends there too.
    with world.fox.lock:
        world.fox.accounts[FOX_A["username"]] = ("a-new-Pa55word!", ESHOP_A)
        world.fox.tokens.clear()
    receive(world, 1002)
    world.deliver()
    assert len(world.fox.orders_of(ESHOP_A)) == 1  # held, not sent
    m = Merchant(page, world.admin)
    m.open("/app")
    assert any(CREDENTIALS_BANNER in b for b in m.banners()), m.banners()
    assert m.frame.get_attribute("#banners s-banner[data-banner='account']", "tone") == "critical"
    m.go("Orders")
    m.go("Home")
    assert any(CREDENTIALS_BANNER in b for b in m.banners())  # it stays until resolved

    m.go("Settings")
    m.frame.fill("#field-password", "a-new-Pa55word!")
    m.press("save")
    assert not m.frame.query_selector_all(".has-error")
    world.deliver()
    assert len(world.fox.orders_of(ESHOP_A)) == 2  # the fix released the held order
    m.go("Home")
    assert not any(CREDENTIALS_BANNER in b for b in m.banners())


def test_a_store_with_more_orders_than_a_page_pages_through_them_all(world: World, page: Any) -> None:
    count = 2 * PAGE_SIZE + 7
    receive(world, *range(2001, 2001 + count))
    world.deliver()
    m = Merchant(page, world.admin)
    m.open("/app/orders")
    seen = list(m.order_rows())
    assert len(seen) == PAGE_SIZE
    while m.frame.query_selector("[data-action='more']"):
        m.press("more")
        now = list(m.order_rows())
        assert now[:len(seen)] == seen and len(now) > len(seen)  # added below, never reshuffled
        seen = now
    assert sorted(seen) == sorted(f"#{n}" for n in range(2001, 2001 + count))  # each once


def test_onboarding_can_be_skipped_and_home_says_what_is_missing(tmp_path: Any, context: Any, page: Any, platforms: Any) -> None:
    world = World(tmp_path, context, SHOP_A, *platforms)  # no account connected
    try:
        receive(world, 3001)
        world.deliver()  # no account to send it to: kept
        m = Merchant(page, world.admin)
        frame = m.open("/app")
        assert frame.query_selector("s-section[heading='Connect your tracking account']")
        m.press("skip-onboarding")
        m.frame.wait_for_selector(".metrics")
        assert any("No tracking account is connected." in b for b in m.banners()), m.banners()
        assert m.frame.inner_text("[data-metric='Held'] .metric-value") == "1", m.frame.inner_text("main")  # kept for later
        m.go("Connect an account")
        assert m.frame.evaluate("document.body.dataset.page") == "settings"
    finally:
        world.close()
        close_thread_dbs()
