"""app/scopes_update: the granted scopes are kept; losing read_orders is said plainly."""

from __future__ import annotations

import json

import pytest

from connector.app import create_app
from connector.shopify.subscriptions import subscribed_topics
from connector.store.db import close_thread_dbs, db_for
from connector.store.shops import add_shop
from connector.worker.loop import Worker
from tests.support import SHOP, make_settings, post_webhook, rows

pytestmark = pytest.mark.both_engines


@pytest.fixture
def settings(tmp_path, db_path):
    settings = make_settings(tmp_path, store=db_path)
    create_app(settings=settings)  # migrates
    add_shop(db_for(settings), SHOP, "oauth", scopes="read_orders,read_fulfillments")
    yield settings
    close_thread_dbs()


def scopes_update(current: list[str], previous: list[str]) -> bytes:
    # Shape of Shopify's sample payload (2026-04).
    return json.dumps({"id": 12345, "shop_id": "gid://shopify/Shop/548380009", "previous": previous,
                       "current": current, "updated_at": "2026-11-25T10:00:00.000Z"}).encode()


def event(settings) -> tuple:
    return rows(settings, "SELECT state, reason FROM events ORDER BY id DESC LIMIT 1")[0]


def test_granted_scopes_are_recorded(settings):
    client = create_app(settings=settings).test_client()
    body = scopes_update(["read_orders", "read_fulfillments", "read_customers"], ["read_orders", "read_fulfillments"])
    assert post_webhook(client, "app/scopes_update", body).status_code == 200
    Worker(settings).run(once=True)
    assert rows(settings, "SELECT scopes FROM shops WHERE shop = ?", (SHOP,)) == [("read_customers,read_fulfillments,read_orders",)]
    assert event(settings) == ("handled", "scopes recorded")


def test_revoking_read_orders_is_recorded_and_named(settings):
    client = create_app(settings=settings).test_client()
    post_webhook(client, "app/scopes_update", scopes_update(["read_fulfillments"], ["read_orders", "read_fulfillments"]))
    Worker(settings).run(once=True)
    assert rows(settings, "SELECT scopes FROM shops WHERE shop = ?", (SHOP,)) == [("read_fulfillments",)]
    assert event(settings) == ("handled", "scopes recorded; missing read_orders")


def test_malformed_body_is_kept_aside_and_unknown_shops_change_nothing(settings):
    client = create_app(settings=settings).test_client()
    post_webhook(client, "app/scopes_update", b'{"current": "read_orders"}')
    Worker(settings).run(once=True)
    assert event(settings)[0] == "invalid"
    post_webhook(client, "app/scopes_update", scopes_update([], ["read_orders"]), shop="other.myshopify.com")
    Worker(settings).run(once=True)
    assert event(settings) == ("handled", "shop is not installed")
    assert rows(settings, "SELECT scopes FROM shops WHERE shop = ?", (SHOP,)) == [("read_orders,read_fulfillments",)]


def test_the_topic_is_subscribed_at_install():
    assert "app/scopes_update" in subscribed_topics()
