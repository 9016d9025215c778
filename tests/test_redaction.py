"""Pure redaction rules over Shopify's real sample payloads."""

from __future__ import annotations

import json

import pytest

from connector.lifecycle.redaction import Identifiers, mentions, order_id_of, redact_document, scrub_text
from tests.golden import load_fixture

pytestmark = pytest.mark.both_engines


def customer() -> Identifiers:
    return Identifiers.from_request(load_fixture("customers_redact.shopify-docs-2026-04.json"))


def test_identifiers_from_the_redact_request():
    ids = customer()
    assert ids.customer_id == "191167" and ids.emails == {"john@example.com"} and ids.phones == {"5556251199"}


def test_order_is_found_by_customer_email_and_redacted_keeping_ids():
    order = load_fixture("orders_create.shopify-docs-sample.exact-ids.json")
    ids = customer()
    assert mentions(order, ids)
    clean, removed = redact_document(order, ids)
    text = json.dumps(clean)
    for value in ("john@example.com", "jon@example.com", "Steve", "123 Shipping Street", "555-555-SHIP", "123 Elm St."):
        assert value not in text
    assert {"123 Shipping Street", "Steve Shipper", "jon@example.com"} <= removed
    assert clean["id"] == order["id"] and clean["updated_at"] == order["updated_at"]
    assert clean["shipping_address"] is None and clean["customer"]["id"] == order["customer"]["id"]
    assert [li["id"] for li in clean["line_items"]] == [li["id"] for li in order["line_items"]]
    assert clean["total_price"] == order["total_price"] and clean["name"] == order["name"]


def test_phone_matches_in_any_format():
    ids = Identifiers()
    ids.add_phone("+1 (555) 625-1199")
    assert mentions({"x": {"phone": "15556251199"}}, ids)
    assert not mentions({"x": {"phone": "555-000-1111"}}, ids)


def test_mapped_payloads_lose_known_values_whatever_their_keys():
    payload = {"recipient": {"fullName": "Steve Shipper", "street": "123 Shipping Street 4"}, "orderNumber": "#9999", "currency": "USD"}
    clean, _ = redact_document(payload, Identifiers(), known_values={"Steve Shipper", "123 Shipping Street"})
    assert clean == {"recipient": {"fullName": None, "street": None}, "orderNumber": "#9999", "currency": "USD"}


def test_order_id_of_each_topic_kind():
    assert order_id_of("orders/updated", {"id": 5}) == "5"
    assert order_id_of("fulfillments/create", {"id": 1, "order_id": 7}) == "7"
    assert order_id_of("customers/redact", {"id": 5}) is None


def test_scrub_text_replaces_values_case_insensitively():
    ids = customer()
    text = "422: email JOHN@example.com invalid for 123 Shipping Street"
    assert scrub_text(text, {"123 Shipping Street"}, ids) == "422: email [redacted] invalid for [redacted]"
