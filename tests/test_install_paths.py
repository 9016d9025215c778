"""Four shops, four install paths, four accounts: each shop's orders reach only its own account.

A local Shopify (OAuth code grant, token exchange, client credentials, GraphQL subscriptions),
the Foxdeli and parcelLab stand-ins; each merchant connects their account through the merchant
API with their own ID token.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from connector.app import create_app
from connector.lifecycle.client_credentials import install_with_client_credentials
from connector.lifecycle.install import add_custom_app
from connector.sandbox.foxdeli import FoxdeliStandIn
from connector.sandbox.parcellab import ParcellabStandIn
from connector.sandbox.shopify import ShopifyStandIn
from connector.store.db import close_thread_dbs, db_for
from connector.worker.loop import Worker
from tests.conftest import webhook_headers
from tests.id_tokens import API_KEY, API_SECRET, mint_id_token
from tests.support import signed_query
from tests.tenancy_env import (
    ESHOP_A,
    ESHOP_B,
    FOX_A,
    FOX_B,
    OPERATOR_ESHOP,
    PL_C,
    add_merchant_accounts,
    order_for,
    tenancy_settings,
)

EMBEDDED = "embedded-store.myshopify.com"  # managed installation: token exchange
CLASSIC = "classic-store.myshopify.com"  # OAuth authorization-code grant
DEV_APP = "dev-dashboard-store.myshopify.com"  # Dev Dashboard custom app: client credentials
LEGACY = "legacy-store.myshopify.com"  # admin-created custom app's token (legacy)

pytestmark = pytest.mark.both_engines


@pytest.fixture
def world(tmp_path, db_path) -> Iterator[dict[str, Any]]:  # type: ignore[no-untyped-def]
    with ShopifyStandIn(API_KEY, API_SECRET) as shopify, FoxdeliStandIn(eshop_id=OPERATOR_ESHOP) as fox, \
            ParcellabStandIn(token="pl-operator-token-0000") as pl:
        add_merchant_accounts(fox, pl)
        fox.add_account("api-legacy@legacy.example", "Legacy-pa55word!", "dddddddd-4444-4444-8444-dddddddddddd")
        settings = tenancy_settings(tmp_path, fox, pl, store=db_path, **{
            "shopify.api_key": API_KEY, "shopify.api_secret": API_SECRET, "shopify.app_url": "https://connector.example",
            "shopify.admin_base_url_template": shopify.url + "/shops/{shop}",
        })
        client = create_app(settings=settings).test_client()
        yield {"shopify": shopify, "fox": fox, "pl": pl, "settings": settings, "client": client,
               "db": db_for(settings)}
        close_thread_dbs()


def api(world: dict[str, Any], method: str, path: str, shop: str, body: Any = None):  # type: ignore[no-untyped-def]
    return world["client"].open(f"/app/api{path}", method=method, json=body,
                                headers={"Authorization": f"Bearer {mint_id_token(shop)}"})


def oauth_install(world: dict[str, Any], shop: str) -> None:
    client, shopify = world["client"], world["shopify"]
    launch = client.get("/?" + signed_query({"shop": shop}, secret=API_SECRET))  # Shopify opens application_url
    assert launch.headers["Location"].startswith("/auth/install?")
    started = client.get(launch.headers["Location"])
    state = parse_qs(urlsplit(started.headers["Location"]).query)["state"][0]
    done = client.get("/auth/callback?" + signed_query({"code": shopify.issue_code(shop), "shop": shop, "state": state},
                                                       secret=API_SECRET))
    assert done.status_code == 200, done.get_data(as_text=True)


def test_four_install_paths_each_deliver_to_their_own_account(world):
    shopify, fox, pl, db, settings = world["shopify"], world["fox"], world["pl"], world["db"], world["settings"]
    assert api(world, "GET", "/session", EMBEDDED).status_code == 200  # opening the app installs it
    oauth_install(world, CLASSIC)
    install_with_client_credentials(db, settings, DEV_APP)
    add_custom_app(db, settings, LEGACY, shopify.add_token(LEGACY), register=True)
    sources = dict(db.execute("SELECT shop, source FROM shops").fetchall())
    assert sources == {EMBEDDED: "token_exchange", CLASSIC: "oauth", DEV_APP: "client_credentials", LEGACY: "custom"}
    for shop in (EMBEDDED, CLASSIC, DEV_APP, LEGACY):
        assert shopify.subscriptions_of(shop), shop  # every path subscribed the webhooks

    accounts = {
        EMBEDDED: {"kind": "foxdeli", **FOX_A},
        CLASSIC: {"kind": "foxdeli", **FOX_B},
        DEV_APP: {"kind": "parcellab", **PL_C},
        LEGACY: {"kind": "foxdeli", "username": "api-legacy@legacy.example", "password": "Legacy-pa55word!",
                 "eshop_id": "dddddddd-4444-4444-8444-dddddddddddd"},
    }
    for shop, account in accounts.items():
        assert api(world, "PUT", "/settings", shop, {"target": account}).status_code == 200
        assert api(world, "POST", "/settings/test", shop, {}).json["ok"] is True
    for number, shop in enumerate(accounts, start=1001):
        body = order_for(number)
        response = world["client"].post("/webhooks/shopify", data=body, headers=webhook_headers(body, shop=shop, secret=API_SECRET))
        assert response.status_code == 200
    assert Worker(settings).run(once=True).delivered == 4
    assert [o["orderNumber"] for o in fox.orders_of(ESHOP_A)] == ["#1001"]
    assert [o["orderNumber"] for o in fox.orders_of(ESHOP_B)] == ["#1002"]
    assert [o["order_number"] for o in pl.orders_of(int(PL_C["account"]))] == ["#1003"]
    assert [o["orderNumber"] for o in fox.orders_of("dddddddd-4444-4444-8444-dddddddddddd")] == ["#1004"]
    assert fox.orders_of(OPERATOR_ESHOP) == [] and len(fox.orders) == 3 and len(pl.orders) == 1
    for shop in accounts:
        overview = api(world, "GET", "/overview", shop).json
        assert overview["counts"]["synced"] == 1 and overview["connected"] is True, (shop, overview)
    assert json.dumps(api(world, "GET", "/orders", EMBEDDED).json).count("#100") == 1  # its own order only
