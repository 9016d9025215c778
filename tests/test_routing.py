"""Where each stored event goes (pure)."""

from __future__ import annotations

import json

import pytest

from connector.worker.routing import route_event
from tests.support import fixture_bytes

FALLBACK = "2026-11-25T00:00:00.000000Z"


def test_order_topics_route_to_a_snapshot_with_exact_id_and_utc_time():
    route = route_event("orders/updated", fixture_bytes("orders_create.shopify-docs-sample.exact-ids.json"), FALLBACK)
    assert route.action == "snapshot"
    assert route.order_id == "820982911946154508"
    assert route.updated_at == "2022-01-01T00:00:00.000000Z"  # 2021-12-31T19:00:00-05:00 in UTC


@pytest.mark.parametrize("topic", ["fulfillments/create", "fulfillments/update"])
def test_fulfillments_route_to_parts_of_their_order(topic):
    route = route_event(topic, fixture_bytes("fulfillments_create.shopify-fulfillment-integration-2014.json"), FALLBACK)
    assert route.action == "part" and route.part_kind == "fulfillment"
    body = json.loads(fixture_bytes("fulfillments_create.shopify-fulfillment-integration-2014.json"))
    assert route.order_id == str(body["order_id"]) and route.part_id == str(body["id"])


def test_refund_routes_to_a_part():
    route = route_event("refunds/create", fixture_bytes("refunds_create.shopify-docs-2026-04.json"), FALLBACK)
    assert route.action == "part" and route.part_kind == "refund"


def test_delete_carries_only_the_id():
    route = route_event("orders/delete", b'{"id": 820982911946154508}', FALLBACK)
    assert route.action == "delete" and route.order_id == "820982911946154508"


@pytest.mark.parametrize(
    "body, reason",
    [(b"\xff\xfe", "UTF-8"), (b"{", "not JSON"), (b"[]", "object"), (b'{"id": -1}', "id"),
     (b'{"id": true}', "id"), (b'{"id": 1.5}', "id"), (b'{"id": "12a"}', "id"), (b"[" * 100000 + b"]" * 100000, "JSON")],
)
def test_unreadable_order_bodies_are_invalid_with_a_reason(body, reason):
    route = route_event("orders/create", body, FALLBACK)
    assert route.action == "invalid" and reason in route.reason


def test_missing_updated_at_falls_back_to_a_time_that_never_beats_a_real_one():
    route = route_event("orders/updated", b'{"id": 5, "line_items": []}', FALLBACK)
    assert route.updated_at == FALLBACK


def test_other_topics_are_ignored_and_lifecycle_topics_are_routed():
    assert route_event("products/update", b"{}", FALLBACK).action == "ignore"
    for topic in ("app/uninstalled", "customers/redact", "customers/data_request", "shop/redact"):
        assert route_event(topic, b"{}", FALLBACK).action == "lifecycle"
