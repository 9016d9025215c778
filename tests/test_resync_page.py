"""What one fetched page of orders becomes (connector.resync.page, pure): the events its webhooks
would have brought, and for reconciliation only the ones the sync state lacks."""

from __future__ import annotations

import json

from connector.resync.page import FULFILLMENT_TOPIC, ORDER_TOPIC, Known, fulfillment_ids, page_events

SHOP = "demo-shop.myshopify.com"


def order(order_id: int, updated: str, *fulfillments: dict) -> dict:
    return {"id": order_id, "updated_at": updated, "line_items": [], "fulfillments": list(fulfillments)}


def fulfillment(fulfillment_id: int, updated: str | None, created: str = "2026-11-01T09:00:00Z") -> dict:
    return {"id": fulfillment_id, "status": "success", "tracking_number": "TRK1", "tracking_numbers": ["TRK1"],
            "created_at": created, "updated_at": updated}


PAGE = [
    order(1, "2026-11-01T10:00:00Z", fulfillment(11, "2026-11-01T10:00:00Z")),
    order(2, "2026-11-02T10:00:00Z"),
    order(3, "2026-11-03T10:00:00Z", fulfillment(31, None), fulfillment(32, "2026-11-03T09:00:00Z")),
]


def test_each_order_and_each_of_its_fulfillments_becomes_an_event_with_a_stable_key() -> None:
    found = page_events(SHOP, PAGE, "resync", "2026-10")
    assert [(e.topic, e.dedupe_key) for e in found.events] == [
        (ORDER_TOPIC, "resync:1:2026-11-01T10:00:00.000000Z"),
        (FULFILLMENT_TOPIC, "resync:11:2026-11-01T10:00:00.000000Z"),
        (ORDER_TOPIC, "resync:2:2026-11-02T10:00:00.000000Z"),
        (ORDER_TOPIC, "resync:3:2026-11-03T10:00:00.000000Z"),
        # No updated_at: its created_at, as triage dates such a body.
        (FULFILLMENT_TOPIC, "resync:31:2026-11-01T09:00:00.000000Z"),
        (FULFILLMENT_TOPIC, "resync:32:2026-11-03T09:00:00.000000Z"),
    ]
    body = json.loads(found.events[1].body)
    assert body["order_id"] == 1 and body["tracking_numbers"] == ["TRK1"]  # a fulfillment webhook's shape
    assert {e.source for e in found.events} == {"resync"} and not found.recovered and found.skipped == 0
    assert page_events(SHOP, PAGE, "resync", "2026-10").events == found.events  # the same page, the same keys
    assert fulfillment_ids(PAGE) == ["11", "31", "32"]


def test_reconcile_queues_only_what_the_sync_state_lacks() -> None:
    known = Known(
        orders={"1": "2026-11-01T10:00:00.000000Z", "2": "2026-11-01T00:00:00.000000Z", "3": "2026-11-03T10:00:00.000000Z"},
        fulfillments={"11": "2026-11-01T10:00:00.000000Z", "32": None},
    )
    found = page_events(SHOP, PAGE, "reconcile", "2026-10", known)
    # Order 1 and its fulfillment are known; order 2 is newer in Shopify; order 3 is known but
    # its fulfillments were never seen (a lost fulfillments/create).
    assert [e.dedupe_key.split(":")[1] for e in found.events] == ["2", "31", "32"]
    assert found.skipped == 2
    assert found.recovered == {e.dedupe_key for e in found.events}
