"""A store owner's first hour with the app, in a real browser, against the real app and stand-ins.

First open → connect the account with a wrong password (the platform's own refusal shown) → the
right one → send the last 30 days (from the Shopify stand-in) → the orders arrive at the
platform's stand-in and show as synced → the platform refuses one order → it shows as failed with
the platform's reason → fixed → Retry → synced. Once for Foxdeli, once for parcelLab. The same
tests take the README's screenshots (``UPDATE_SCREENSHOTS=1`` writes them to docs/screenshots/).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from connector.store.db import close_thread_dbs
from tests.browser.harness import screenshot
from tests.browser.merchant import Merchant
from tests.browser.world import ORDERS, World
from tests.tenancy_env import ESHOP_A, FOX_A, PL_C, SHOP_A, SHOP_C

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def make_world(tmp_path, context, platforms, shop):  # type: ignore[no-untyped-def]
    return World(tmp_path, context, shop, *platforms)


def connect_and_import(m: Merchant, world: World, platform: str, wrong: dict[str, str], right: dict[str, str],
                       refusal_words: str, out: Path, shots: bool) -> None:
    frame = m.open("/app")
    assert frame.query_selector("s-section[heading='Connect your tracking account']")
    m.choose_platform(platform)
    m.fill(**wrong)
    if shots:
        screenshot(m.page, m.admin, "onboarding", out)
    answer = m.test_connection()
    assert "Connection failed." in answer and refusal_words in answer
    m.fill(**right)
    assert "Connection works." in m.test_connection()
    m.press("save-account")
    frame = m.frame
    frame.wait_for_selector("s-section[heading='Send your recent orders']")
    m.press("start-import")
    frame.wait_for_selector(".import-status >> text=Done:", timeout=30000)
    status = frame.inner_text(".import-status")
    # Every third order of the stand-in is shipped: their shipments come with them.
    assert f"Done: {ORDERS} orders" in status and f"with {len(range(0, ORDERS, 3))} shipments" in status
    world.deliver()
    m.press("finish-onboarding")
    m.frame.wait_for_selector(".metrics")


@pytest.mark.parametrize("platform", ["Foxdeli", "parcelLab"])
def test_a_merchant_connects_imports_and_fixes_a_refused_order(tmp_path, context, page, platforms, platform):
    foxdeli = platform == "Foxdeli"
    world = make_world(tmp_path, context, platforms, SHOP_A if foxdeli else SHOP_C)
    m = Merchant(page, world.admin)
    try:
        if foxdeli:
            wrong = {"API username": FOX_A["username"], "API password": "not-the-password", "E-shop ID": ESHOP_A}
            right, refusal, who = {"API password": FOX_A["password"]}, "Bad credentials", FOX_A["username"]
        else:
            wrong = {"Account ID": PL_C["account"], "API token": "pl-wrong-token", "Client key (optional)": PL_C["client_key"]}
            right, refusal, who = {"API token": PL_C["token"]}, "Invalid or missing token", PL_C["account"]
        connect_and_import(m, world, platform, wrong, right, refusal, tmp_path, shots=foxdeli)
        received = world.fox.orders_of(ESHOP_A) if foxdeli else world.pl.orders_of(int(PL_C["account"]))
        assert len(received) == ORDERS
        assert len(world.fox.orders) + len(world.pl.orders) == ORDERS  # in the shop's own account, nowhere else
        home = m.frame.inner_text("main")
        assert platform in home and who in home
        assert m.frame.inner_text("[data-metric='Synced today'] .metric-value") == str(ORDERS)
        assert m.banners() == []
        if foxdeli:
            screenshot(page, world.admin, "home", tmp_path)

        m.go("Orders")
        rows = m.order_rows()
        assert len(rows) == ORDERS and {r["status"] for r in rows.values()} == {"synced"}

        # The merchant edits an order in Shopify; the platform refuses its new state.
        victim, name = world.shopify.order_ids()[4], "#1004"
        platform_stand_in = world.fox if foxdeli else world.pl
        reason = "customer.phone: +420 is not a valid phone number" if foxdeli else "recipient_email is not a valid e-mail address"
        platform_stand_in.refusals[name] = reason
        world.shopify_updates(victim, email="jana.novakova@example.com")
        world.deliver()
        m.go("Home")
        assert any("1 order was refused by the platform." in banner for banner in m.banners())
        m.go("See failed orders")
        failed = m.order_rows()
        assert list(failed) == [name] and failed[name]["status"] == "failed" and reason in failed[name]["reason"]
        m.go("Orders")
        assert m.order_rows()[name]["status"] == "failed"
        m.frame.fill("#search", name)  # search by the order's name
        m.frame.click("form[role='search'] button[type='submit']")
        rows_are = "(n) => document.querySelectorAll('table.orders tbody tr').length === n"  # a function: CSP forbids eval
        m.frame.wait_for_function(rows_are, arg=1)
        assert list(m.order_rows()) == [name]
        m.frame.fill("#search", "")
        m.frame.select_option("#filter-status", "synced")  # filter by state
        m.frame.wait_for_function(rows_are, arg=ORDERS - 1)
        assert name not in m.order_rows()
        m.frame.select_option("#filter-status", "")
        m.frame.wait_for_function(rows_are, arg=ORDERS)
        if foxdeli:
            screenshot(page, world.admin, "orders", tmp_path)
            page.set_viewport_size({"width": 390, "height": 800})  # the Shopify app on a phone
            assert m.frame.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
            screenshot(page, world.admin, "orders-phone", tmp_path)
            page.set_viewport_size({"width": 1100, "height": 800})

        m.go(name)  # the order's own page: the platform's answer and every attempt
        detail = m.frame.inner_text("main")
        assert reason in detail and "orders/updated" in detail

        platform_stand_in.refusals.clear()  # fixed (in Shopify, or on the platform)
        if foxdeli:
            m.press("retry")  # on the order's page
        else:
            m.go("← All orders")
            m.press("retry-all")
        world.deliver()
        world.admin.stale_tokens_to_issue = 1  # the laptop slept: the next page load carries a stale token
        bounced: list[str] = []
        page.on("framenavigated", lambda f: bounced.append(f.url) if "/auth/patch-id-token" in f.url else None)
        m.go("Orders")
        assert bounced  # recovered through the bounce page, onto a page with content
        assert m.order_rows()[name]["status"] == "synced"
        m.go("Home")
        assert m.banners() == []
    finally:
        world.close()
        close_thread_dbs()
