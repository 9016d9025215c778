"""Privacy webhooks and app/uninstalled, end to end: signed real payloads → endpoint → worker.

PII is searched for in the SQLite file's bytes, not through SQL: what a copied file reveals.
"""

from __future__ import annotations

import json

import pytest

from connector.app import create_app
from connector.store.db import close_thread_dbs, db_for
from connector.store.shops import add_shop
from connector.worker.loop import Worker
from tests.support import SHOP, database_bytes, fixture_bytes, make_settings, post_webhook, rows

pytestmark = pytest.mark.both_engines

ORDER_FIXTURE = "orders_create.shopify-docs-sample.exact-ids.json"
ORDER_ID = "820982911946154508"
# Personal data of the customer in the fixtures (order, its addresses, fulfillment, redact request).
PII = [
    b"john@example.com", b"jon@example.com", b"555-625-1199", b"555-555-SHIP", b"123-123-1234",
    b"123 Shipping Street", b"123 Elm St.", b"Steve Shipper", b"Shippington", b"Bob Norman",
]


@pytest.fixture
def settings(tmp_path, db_path):
    settings = make_settings(tmp_path, store=db_path)
    db = db_for(settings)
    create_app(settings=settings)  # migrates
    add_shop(db, SHOP, "config")
    yield settings
    close_thread_dbs()


@pytest.fixture
def client(settings):
    return create_app(settings=settings).test_client()


def work(settings) -> None:
    Worker(settings).run(once=True)


def redact_body() -> bytes:
    return fixture_bytes("customers_redact.shopify-docs-2026-04.json", **{"{shop}.myshopify.com": SHOP})


def data_request_body() -> bytes:
    doc = json.loads(redact_body())
    doc.pop("orders_to_redact")
    doc.update(orders_requested=[int(ORDER_ID)], data_request={"id": 9999})
    return json.dumps(doc).encode()


def order_body(updated_at: str | None = None) -> bytes:
    doc = json.loads(fixture_bytes(ORDER_FIXTURE))
    if updated_at:
        doc["updated_at"] = updated_at
    return json.dumps(doc).encode()


def seed_customer(client, settings) -> None:
    """An order, its fulfillment and a data request of the customer, delivered by the worker."""
    assert post_webhook(client, "orders/create", fixture_bytes(ORDER_FIXTURE), webhook_id="w-create").status_code == 200
    fulfillment = fixture_bytes("fulfillments_create.shopify-docs-2026-04.json", **{"820982911946154500": ORDER_ID})
    assert post_webhook(client, "fulfillments/create", fulfillment).status_code == 200
    assert post_webhook(client, "customers/data_request", data_request_body()).status_code == 200
    work(settings)
    assert rows(settings, "SELECT count(*) FROM dry_run_payloads") == [(2,)]
    present = database_bytes(settings)
    assert all(p in present for p in PII[:4]), "the fixtures should carry the PII this test looks for"
    # The worker's triage runs on this thread's cached connection: turning secure_delete off on it
    # now proves the redaction turns it on itself (the store opens every connection with it on).
    db = db_for(settings)
    if db.dialect.name == "sqlite":
        db.execute("PRAGMA secure_delete = OFF")


def test_data_request_is_recorded_and_exported(client, settings):
    from click.testing import CliRunner

    from connector.cli import main

    seed_customer(client, settings)
    assert rows(settings, "SELECT data_request_id, email FROM data_requests") == [("9999", "john@example.com")]
    config = str(settings.source)
    listing = CliRunner().invoke(main, ["privacy", "requests", "--config", config])
    assert listing.exit_code == 0 and "9999" in listing.output
    result = CliRunner().invoke(main, ["privacy", "export", "--request", "1", "--config", config])
    assert result.exit_code == 0, result.output
    export = json.loads(result.output)
    assert [o["order_id"] for o in export["orders"]] == [ORDER_ID]
    assert {e["topic"] for e in export["events"]} == {"orders/create", "fulfillments/create", "customers/data_request"}
    assert export["sent_payloads"] and export["request"]["email"] == "john@example.com"


def test_customers_redact_removes_pii_and_later_webhooks_deliver_once(client, settings):
    seed_customer(client, settings)
    before = rows(settings, "SELECT remote_id, delivered_updated_at, payload_hash FROM orders")
    assert post_webhook(client, "customers/redact", redact_body()).status_code == 200
    work(settings)
    assert rows(settings, "SELECT state FROM events WHERE topic = 'customers/redact'") == [("handled",)]
    raw = database_bytes(settings)
    assert [p for p in PII if p in raw] == []
    for (body,) in rows(settings, "SELECT body FROM event_bodies"):
        json.loads(body)  # still JSON
    order = json.loads(rows(settings, "SELECT event_bodies.body FROM events JOIN event_bodies ON event_bodies.event_id = events.id WHERE topic = 'orders/create'")[0][0])
    assert str(order["id"]) == ORDER_ID and order["updated_at"] and order["line_items"]
    assert order["customer"] == {"id": 115310627314723954, "admin_graphql_api_id": "gid://shopify/Customer/115310627314723954"}
    assert rows(settings, "SELECT remote_id, delivered_updated_at, payload_hash FROM orders") == before
    assert rows(settings, "SELECT email, phone FROM data_requests") == [(None, None)]

    # Shopify's retry of the original delivery: a duplicate at intake, nothing sent.
    assert post_webhook(client, "orders/create", fixture_bytes(ORDER_FIXTURE), webhook_id="w-create").status_code == 200
    assert rows(settings, "SELECT count(*) FROM events WHERE topic = 'orders/create'") == [(1,)]
    # An older state under a new delivery id: stale, nothing sent.
    post_webhook(client, "orders/updated", order_body("2021-12-30T19:00:00-05:00"))
    work(settings)
    assert rows(settings, "SELECT count(*) FROM dry_run_payloads") == [(2,)]
    # A newer state: delivered once, to the same remote order.
    post_webhook(client, "orders/updated", order_body("2022-01-05T10:00:00-05:00"))
    work(settings)
    assert rows(settings, "SELECT count(*) FROM dry_run_payloads WHERE kind = 'order'") == [(2,)]
    assert rows(settings, "SELECT remote_id, status FROM orders") == [(before[0][0], "synced")]


def test_redact_matches_listed_order_ids_without_customer_details(client, settings):
    seed_customer(client, settings)
    body = json.dumps({"shop_id": 1, "shop_domain": SHOP, "customer": {"id": 5}, "orders_to_redact": [int(ORDER_ID)]})
    post_webhook(client, "customers/redact", body.encode())
    work(settings)
    raw = database_bytes(settings)
    assert b"123 Shipping Street" not in raw and b"jon@example.com" not in raw


def test_shop_redact_erases_everything_of_the_shop(client, settings):
    seed_customer(client, settings)
    other = "other-shop.myshopify.com"
    add_shop(db_for(settings), other, "config")
    post_webhook(client, "orders/create", fixture_bytes(ORDER_FIXTURE).replace(b"Steve", b"Other"), shop=other)
    post_webhook(client, "app/uninstalled", json.dumps({"id": 1, "myshopify_domain": SHOP}).encode())
    work(settings)
    post_webhook(client, "shop/redact", json.dumps({"shop_id": 1, "shop_domain": SHOP}).encode())
    work(settings)
    for table in ("orders", "order_parts", "attempts", "failures", "dry_run_payloads", "data_requests", "shops"):
        assert rows(settings, f"SELECT count(*) FROM {table} WHERE shop = ?", (SHOP,)) == [(0,)], table
    assert rows(settings, "SELECT topic, state FROM events WHERE shop = ?", (SHOP,)) == [("shop/redact", "handled")]
    assert rows(settings, "SELECT count(*) FROM orders WHERE shop = ?", (other,)) == [(1,)]
    raw = database_bytes(settings)
    assert b"Steve Shipper" not in raw and b"jon@example.com" in raw  # the other shop's order stays


def test_app_uninstalled_is_idempotent_and_stops_deliveries(client, settings):
    seed_customer(client, settings)
    db = db_for(settings)
    db.execute("UPDATE shops SET access_token = 'x' WHERE shop = ?", [SHOP])
    body = json.dumps({"id": 1, "myshopify_domain": SHOP}).encode()
    post_webhook(client, "app/uninstalled", body)
    post_webhook(client, "app/uninstalled", body)  # Shopify may send it twice
    work(settings)
    assert rows(settings, "SELECT state FROM events WHERE topic = 'app/uninstalled'") == [("handled",), ("handled",)]
    ((token, uninstalled),) = rows(settings, "SELECT access_token, uninstalled_at FROM shops WHERE shop = ?", (SHOP,))
    assert token is None and uninstalled
    post_webhook(client, "orders/updated", order_body("2022-02-01T00:00:00Z"))
    work(settings)
    assert rows(settings, "SELECT count(*) FROM dry_run_payloads") == [(2,)]
    assert rows(settings, "SELECT count(*) FROM events WHERE shop = ?", (SHOP,))[0][0] == 6  # kept until shop/redact


def test_late_uninstall_does_not_undo_a_reinstall(client, settings):
    body = json.dumps({"id": 1, "myshopify_domain": SHOP}).encode()
    post_webhook(client, "app/uninstalled", body)  # stored, not yet handled
    db = db_for(settings)
    db.execute("UPDATE shops SET installed_at = '2999-01-01T00:00:00.000000Z', access_token = 'x'")  # reinstalled later
    work(settings)
    assert rows(settings, "SELECT state FROM events") == [("ignored",)]
    assert rows(settings, "SELECT access_token, uninstalled_at FROM shops") == [("x", None)]


def test_unknown_shop_webhooks_are_acknowledged_and_held(client, settings):
    response = post_webhook(client, "orders/create", fixture_bytes(ORDER_FIXTURE), shop="stranger.myshopify.com")
    assert response.status_code == 200
    work(settings)
    assert rows(settings, "SELECT state FROM events") == [("held",)]
    assert rows(settings, "SELECT count(*) FROM dry_run_payloads") == [(0,)]


@pytest.mark.parametrize("topic", ["customers/data_request", "customers/redact", "shop/redact"])
def test_privacy_webhooks_with_bad_hmac_get_401_and_are_not_stored(client, settings, topic):
    response = post_webhook(client, topic, redact_body(), secret="wrong")
    assert response.status_code == 401
    assert rows(settings, "SELECT count(*) FROM events") == [(0,)]


def test_paging_a_shops_events_for_a_redaction_sorts_ids_and_reads_only_the_batchs_bodies(tmp_path):
    """With the bodies joined before the sort, every batch of a redaction read the body of every
    remaining event of the shop (through the shop's index), growing with the square of its size."""
    from connector.store.db import connect
    from connector.store.migrations import migrate
    from connector.store.privacy import events_after

    db = connect(str(tmp_path / "plan.db"))
    try:
        migrate(db)
        issued: list[str] = []
        db.conn.set_trace_callback(issued.append)
        assert events_after(db, SHOP, 0, 10**9, 200) == []
        db.conn.set_trace_callback(None)
        [sql] = [s for s in issued if "event_bodies" in s]
        plan = {row[0]: (row[1], row[3]) for row in db.execute(f"EXPLAIN QUERY PLAN {sql}")}
    finally:
        db.close()

    def under_a_subquery(node: int) -> bool:
        while node in plan:
            node, detail = plan[node]
            if "SUBQUERY" in detail:
                return True
        return False

    sorts = [node for node, (_, detail) in plan.items() if "TEMP B-TREE" in detail]
    assert sorts and all(under_a_subquery(node) for node in sorts), plan
    assert any("SEARCH b USING INTEGER PRIMARY KEY" in detail for _, detail in plan.values()), plan
