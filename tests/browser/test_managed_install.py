"""A shop Shopify installed itself (managed installation): the first open of the page trades the ID
token for an offline token, and the whole page works on it — in a real browser.

The walk-throughs open the app for shops that already hold a token; this one starts from
nothing: no OAuth, no token in the config. The page's first request, and the API calls its
scripts make at the same moment, must exchange once, and the import that follows must read
Shopify's orders with the token the exchange gave.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from connector.app import create_app
from connector.sandbox.server import Request, Response
from connector.sandbox.shopify import (
    GRAPHQL_PATH,
    PREFIX,
    TOKEN_EXCHANGE,
    ShopifyStandIn,
)
from connector.sandbox.shopify_admin import ShopifyAdminStandIn
from connector.store.db import close_thread_dbs
from connector.worker.loop import Worker
from tests.browser.harness import AdminStandIn, LiveApp, iter_console_problems
from tests.browser.merchant import Merchant
from tests.browser.world import ORDERS
from tests.id_tokens import API_KEY, API_SECRET
from tests.support import APP_URL
from tests.tenancy_env import ESHOP_A, FOX_A, SHOP_A, tenancy_settings

pytestmark = [pytest.mark.browser, pytest.mark.slow]


class ManagedShopify(ShopifyStandIn):
    """Shopify's token endpoint and webhook subscriptions (:class:`ShopifyStandIn`), with order
    queries answered by the Admin API stand-in for whoever holds a token this Shopify issued."""

    def __init__(self, orders: ShopifyAdminStandIn) -> None:
        super().__init__(API_KEY, API_SECRET)
        self.orders = orders

    def handle(self, request: Request) -> Response:
        match = PREFIX.match(request.path)
        path = match.group(2) if match else request.path
        if request.method == "POST" and GRAPHQL_PATH.match(path) and b"webhookSubscription" not in request.body:
            with self.lock:
                issued = request.headers.get("X-Shopify-Access-Token", "") in self.tokens
            if not issued:
                return Response(401, {"errors": "[API] Invalid API key or access token"})
            headers = {**request.headers, "X-Shopify-Access-Token": self.orders.token}
            return self.orders.handle(Request(request.method, path, request.query, headers, request.body))
        return super().handle(request)


@pytest.fixture
def shopify(platforms: Any) -> Iterator[ManagedShopify]:
    with ManagedShopify(platforms[2]) as standin:
        yield standin  # type: ignore[misc]


def test_a_shop_installed_by_shopify_exchanges_its_token_on_first_open_and_onboards(tmp_path, context, page, platforms, shopify):
    fox = platforms[0]
    settings = tenancy_settings(tmp_path, fox, platforms[1], "", **{
        "shopify.api_key": API_KEY, "shopify.api_secret": API_SECRET, "shopify.app_url": APP_URL,
        "shopify.admin_base_url_template": shopify.url + "/shops/{shop}",
    })
    with LiveApp(create_app(settings=settings)) as live:
        try:
            m = Merchant(page, AdminStandIn(context, live.url, shop=SHOP_A))
            frame = m.open("/app")
            assert frame.query_selector("s-section[heading='Connect your tracking account']")
            # The page and its scripts' first API calls came together: one exchange for all.
            assert shopify.grants_of(TOKEN_EXCHANGE) == [SHOP_A]
            assert shopify.subscriptions_of(SHOP_A)  # installed as an OAuth install would be
            m.choose_platform("Foxdeli")
            m.fill(**{"API username": FOX_A["username"], "API password": FOX_A["password"], "E-shop ID": ESHOP_A})
            assert "Connection works." in m.test_connection()
            m.press("save-account")
            m.frame.wait_for_selector("s-section[heading='Send your recent orders']")
            m.press("start-import")  # read from Shopify with the exchanged token
            m.frame.wait_for_selector(".import-status >> text=Done:", timeout=30000)
            assert f"Done: {ORDERS} orders" in m.frame.inner_text(".import-status")
            assert shopify.grants_of(TOKEN_EXCHANGE) == [SHOP_A]  # never again while the token lasts
            Worker(settings).run(once=True)
            assert len(fox.orders_of(ESHOP_A)) == ORDERS
            problems = [*map(str, page.page_errors_seen), *iter_console_problems(page.console_messages_seen)]
            assert problems == []
        finally:
            close_thread_dbs()
