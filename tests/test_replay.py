"""A captured signed webhook replayed under another topic, another shop or days later is never acted on.

The HMAC covers the body only. Found by an attack run: one order body replayed as ``shop/redact``
erased the shop; as ``app/uninstalled`` it deleted an installed shop's token; under another
shop's header it was delivered as that shop's order. Each such event is stored, ``suspect``
with its reason, and changes nothing.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from connector.store.db import connect
from connector.worker.routing import Delivery, RoutingRules, route_event
from tests.conftest import (
    DOCS_ORDER,
    ORDER_ID,
    SHOP,
    documented_fulfillment,
    fixture_bytes,
    live_order,
    webhook_headers,
)
from tests.support import scalar, tuples

OTHER = "other-shop.myshopify.com"
NOW = "2026-11-25T10:00:00.000000Z"


def event_rows(db_path: str) -> list[tuple[str, str, str | None]]:
    return tuples(db_path, "SELECT topic, state, reason FROM events ORDER BY id")


@pytest.fixture
def delivered(post, run_worker, target, db_path):
    """The documented order, delivered: the shop has data a replay could destroy."""
    assert post(live_order()).status_code == 200
    run_worker()
    assert scalar(db_path, "SELECT status FROM orders") == "synced"


@pytest.mark.parametrize("topic", ["shop/redact", "customers/redact", "customers/data_request", "app/uninstalled"])
def test_an_order_body_replayed_as_a_privacy_or_app_topic_changes_nothing(delivered, post, run_worker, db_path, topic):
    assert post(live_order(), topic).status_code == 200  # verified and stored: Shopify gets its 2xx
    run_worker()
    (_, (replayed_topic, state, reason)) = event_rows(db_path)
    assert (replayed_topic, state) == (topic, "suspect") and reason
    db = connect(db_path)
    assert db.execute("SELECT status FROM orders").fetchone()[0] == "synced"  # nothing erased
    assert db.execute("SELECT count(*) FROM data_requests").fetchone()[0] == 0
    assert db.execute("SELECT uninstalled_at FROM shops WHERE shop = ?", [SHOP]).fetchone()[0] is None
    db.close()


@pytest.mark.parametrize("topic, body", [
    ("shop/redact", {"shop_id": 1, "shop_domain": OTHER}),
    ("customers/redact", {"shop_id": 1, "shop_domain": OTHER, "customer": {"id": 115310627314723954}, "orders_to_redact": [int(ORDER_ID)]}),
    ("app/uninstalled", {"id": 1, "myshopify_domain": OTHER, "domain": "shop.example.com"}),
])
def test_another_shops_privacy_or_app_body_under_this_shops_header_changes_nothing(delivered, post, run_worker, db_path, topic, body):
    post(json.dumps(body).encode(), topic)
    run_worker()
    state, reason = event_rows(db_path)[1][1:]
    assert state == "suspect" and OTHER in reason and SHOP in reason
    db = connect(db_path)
    assert db.execute("SELECT status FROM orders").fetchone()[0] == "synced"
    assert db.execute("SELECT uninstalled_at FROM shops WHERE shop = ?", [SHOP]).fetchone()[0] is None
    order_body = db.execute("SELECT body FROM event_bodies WHERE event_id = 1").fetchone()[0]
    assert b"115310627314723954" in bytes(order_body) and b"jon@example.com" in bytes(order_body)  # not redacted
    db.close()


def test_the_shops_own_privacy_and_app_bodies_are_still_acted_on(delivered, post, run_worker, db_path):
    post(json.dumps({"id": 1, "myshopify_domain": SHOP.upper(), "domain": "shop.example.com"}).encode(), "app/uninstalled")
    post(json.dumps({"shop_id": 1, "shop_domain": SHOP}).encode(), "shop/redact")
    run_worker()
    rows = event_rows(db_path)  # shop/redact erased every other event of the shop
    assert [(topic, state) for topic, state, _ in rows] == [("shop/redact", "handled")]
    db = connect(db_path)
    assert db.execute("SELECT count(*) FROM orders").fetchone()[0] == 0  # erased as asked
    assert db.execute("SELECT count(*) FROM shops WHERE shop = ?", [SHOP]).fetchone()[0] == 0  # uninstalled, then erased
    db.close()


@pytest.mark.parametrize("topic, body, looks_like", [
    ("orders/updated", documented_fulfillment(), "fulfillment"),
    ("orders/create", json.loads(fixture_bytes("refunds_create.shopify-docs-2026-04.json")), "refund"),
    ("fulfillments/create", {**json.loads(fixture_bytes("refunds_create.shopify-docs-2026-04.json")), "order_id": int(ORDER_ID)}, "refund"),
    ("refunds/create", documented_fulfillment(), "fulfillment"),
    ("orders/delete", json.loads(live_order()), "line_items"),
    ("orders/cancelled", {"id": int(ORDER_ID), "myshopify_domain": SHOP}, "shop"),
])
def test_a_body_of_another_kind_is_never_folded_into_an_order(delivered, post, run_worker, target, db_path, topic, body, looks_like):
    writes_before = sum(target.writes.values())
    post(json.dumps(body).encode(), topic)
    run_worker()
    state, reason = event_rows(db_path)[1][1:]
    assert state == "suspect" and looks_like in reason, reason
    assert sum(target.writes.values()) == writes_before and not target.deleted
    row = tuples(db_path, "SELECT status, deleted_at FROM orders")[0]
    assert row == ("synced", None)


@pytest.mark.parametrize("topic, name", [
    ("orders/create", DOCS_ORDER), ("orders/updated", "orders_create.shopify-test-notification-2017.json"),
    ("orders/paid", "orders_many_lines.json"), ("fulfillments/create", "fulfillments_create.shopify-docs-2026-04.json"),
    ("fulfillments/update", "fulfillments_create.shopify-fulfillment-integration-2014.json"),
    ("refunds/create", "refunds_create.shopify-docs-2026-04.json"),
])
def test_every_real_shopify_body_fits_its_own_topic(topic, name):
    route = route_event(topic, fixture_bytes(name), NOW)
    assert route.action in ("snapshot", "part"), route


def test_the_real_privacy_body_fits_its_own_shop_only():
    raw = fixture_bytes("customers_redact.shopify-docs-2026-04.json").replace(b"{shop}", SHOP.split(".")[0].encode())
    assert route_event("customers/redact", raw, NOW, delivery=Delivery(shop=SHOP)).action == "lifecycle"
    assert route_event("customers/redact", raw, NOW, delivery=Delivery(shop=OTHER)).action == "suspect"


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_a_delivery_far_older_than_shopifys_retries_is_kept_aside(client, run_worker, target, db_path):
    body = live_order()
    headers = webhook_headers(body)
    headers["X-Shopify-Triggered-At"] = _iso(datetime.now(UTC) - timedelta(days=3))
    assert client.post("/webhooks/shopify", data=body, headers=headers).status_code == 200
    run_worker()
    ((_, state, reason),) = event_rows(db_path)
    assert state == "suspect" and "X-Shopify-Triggered-At" in reason and "webhooks.max_delivery_age_s" in reason
    assert target.documents == {}


def test_a_late_but_plausible_retry_is_delivered_and_the_age_check_can_be_switched_off(client, run_worker, target, db_path):
    for age, webhook_id in ((timedelta(hours=5), "retry"), (timedelta(days=30), "old")):
        body = live_order(updated_at=_iso(datetime.now(UTC) - age))
        headers = webhook_headers(body, webhook_id=webhook_id)
        headers["X-Shopify-Triggered-At"] = _iso(datetime.now(UTC) - age)
        client.post("/webhooks/shopify", data=body, headers=headers)
        run_worker(**({"webhooks.max_delivery_age_s": 0} if webhook_id == "old" else {}))
    assert [state for _, state, _ in event_rows(db_path)] == ["delivered", "stale"]  # the 30-day-old is older, not suspect


def test_age_rule_reads_only_webhooks_with_a_triggered_at():
    rules = RoutingRules(max_delivery_age_s=3600)
    raw = live_order()
    old = Delivery(shop=SHOP, triggered_at="2026-11-20T10:00:00Z")
    assert route_event("orders/create", raw, NOW, rules, old).action == "suspect"
    assert route_event("orders/create", raw, NOW, rules, Delivery(shop=SHOP, triggered_at="yesterday")).action == "snapshot"
    assert route_event("orders/create", raw, NOW, rules, Delivery(shop=SHOP)).action == "snapshot"
    resync = Delivery(shop=SHOP, triggered_at="2026-11-20T10:00:00Z", source="resync")
    assert route_event("orders/create", raw, NOW, rules, resync).action == "snapshot"


def test_held_events_of_an_unknown_shop_are_pruned_by_the_retention(post, run_worker, db_path):
    from connector.store.events import prune_events

    post(live_order(), shop="stranger.myshopify.com")
    run_worker()
    assert event_rows(db_path)[0][1] == "held"
    db = connect(db_path)
    try:
        assert prune_events(db, older_than_s=3600) == 0
        assert prune_events(db, older_than_s=0) == 1
    finally:
        db.close()
    assert event_rows(db_path) == []
