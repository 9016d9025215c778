"""GraphQL Admin API orders → the REST webhook shape the mappers read."""

from __future__ import annotations

import json

import pytest

from connector.shopify.order_shape import ORDERS_QUERY, gid_to_id, map_graphql_order
from connector.targets.neutral import map_neutral_order
from tests.golden import load_fixture

PAGE = "graphql_orders_page.shopify-admin-2026-10.json"


@pytest.fixture(scope="module")
def orders() -> list[dict]:
    return [map_graphql_order(node) for node in load_fixture(PAGE)["data"]["orders"]["nodes"]]


def test_ids_come_from_gids_exactly_above_2_pow_53(orders: list[dict]) -> None:
    order = orders[0]
    assert order["id"] == 9007199254740993  # 2**53 + 1: a float would make it ...992
    assert isinstance(order["id"], int)
    assert order["line_items"][0]["id"] == 9007199254741107
    assert order["fulfillments"][0]["order_id"] == order["id"]
    assert json.loads(json.dumps(order))["id"] == 9007199254740993


@pytest.mark.parametrize(
    "gid, expected",
    [("gid://shopify/Order/820982911946154508", 820982911946154508), ("gid://shopify/Order/5?x=1", 5),
     (12, 12), ("gid://shopify/Order/", None), (None, None), ("", None), (True, None)],
)
def test_gid_to_id(gid: object, expected: int | None) -> None:
    assert gid_to_id(gid) == expected


def test_scalar_fields_follow_the_rest_shape(orders: list[dict]) -> None:
    order = orders[0]
    assert order["name"] == "#1042" and order["order_number"] == 1042
    assert order["financial_status"] == "partially_refunded"
    assert order["fulfillment_status"] == "partial"  # REST's word for PARTIALLY_FULFILLED
    assert order["currency"] == "CZK"
    assert (order["total_price"], order["subtotal_price"], order["total_tax"], order["total_discounts"]) == (
        "1589.00", "1490.00", "275.79", "100.00")
    assert order["tags"] == "VIP, wholesale"
    assert order["payment_gateway_names"] == ["shopify_payments", "gift_card"]
    assert order["customer_locale"] == "cs-CZ"
    assert order["order_status_url"].startswith("https://obchod-demo.myshopify.com/")
    assert order["created_at"] == "2026-11-01T18:04:11Z" and order["updated_at"] == "2026-11-02T09:15:22Z"
    assert order["source_name"] == "web" and order["test"] is False


def test_cancelled_unfulfilled_order(orders: list[dict]) -> None:
    order = orders[1]
    assert order["cancel_reason"] == "customer"
    assert order["financial_status"] == "voided"
    assert order["fulfillment_status"] is None  # REST: null for unfulfilled
    assert order["customer"] is None and order["shipping_address"] is None
    assert order["line_items"] == [] and order["fulfillments"] == [] and order["tags"] == ""
    assert order["test"] is True


def test_nested_objects(orders: list[dict]) -> None:
    order = orders[0]
    assert order["customer"] == {"id": 9007199254741001, "first_name": "Jana", "last_name": "Nováková",
                                 "email": "jana.novakova@example.cz", "phone": "+420777123456"}
    assert order["shipping_address"]["country_code"] == "CZ" and order["shipping_address"]["zip"] == "120 00"
    assert order["billing_address"]["company"] == "Nováková s.r.o."
    tee, card = order["line_items"]
    assert (tee["sku"], tee["quantity"], tee["current_quantity"], tee["price"], tee["requires_shipping"]) == (
        "TEE-BLK-M", 2, 1, "495.00", True)
    assert tee["title"] == "Tričko Logo" and tee["name"] == "Tričko Logo - Černá / M"
    assert card["requires_shipping"] is False and card["gift_card"] is True and card["variant_id"] is None
    fulfillment = order["fulfillments"][0]
    assert fulfillment["tracking_company"] == "PPL"
    assert fulfillment["tracking_number"] == "40512345678"
    assert fulfillment["tracking_numbers"] == ["40512345678", "40512345679"]
    assert fulfillment["tracking_urls"] == ["https://www.ppl.cz/vyhledat-zasilku?shipmentId=40512345678"]
    assert fulfillment["status"] == "success"
    assert fulfillment["line_items"] == [{"id": 9007199254741107, "variant_id": None, "sku": "TEE-BLK-M", "quantity": 1}]
    shipping = order["shipping_lines"][0]
    assert (shipping["title"], shipping["code"], shipping["price"], shipping["is_removed"]) == (
        "PPL Parcel CZ", "PPL_PARCEL", "99.00", False)


def test_the_neutral_mapping_reads_the_converted_order(orders: list[dict]) -> None:
    doc = map_neutral_order(orders[0])
    assert doc["order_id"] == 9007199254740993
    assert doc["fulfillment_status"] == "partial"
    assert doc["line_items"][0]["quantity"] == 1  # current_quantity wins
    assert doc["fulfillments"][0]["tracking_numbers"] == ["40512345678", "40512345679"]
    assert doc["customer"]["name"] == "Jana Nováková"


def test_the_query_sorts_by_updated_at_and_pages_with_cursors() -> None:
    assert "sortKey: UPDATED_AT" in ORDERS_QUERY
    assert "pageInfo { hasNextPage endCursor }" in ORDERS_QUERY
    assert "after: $after" in ORDERS_QUERY and "query: $query" in ORDERS_QUERY


def test_money_bags_keep_the_customer_currency_and_the_current_totals() -> None:
    """A re-synced order carries ``*_set`` with both currencies and the ``current_*`` family, as
    its webhooks do: the targets send the customer's currency and the value after refunds."""
    def bag(shop: str, presentment: str) -> dict:
        return {"shopMoney": {"amount": shop, "currencyCode": "CZK"},
                "presentmentMoney": {"amount": presentment, "currencyCode": "EUR"}}

    node = load_fixture(PAGE)["data"]["orders"]["nodes"][0]
    node = {**node, "presentmentCurrencyCode": "EUR", "totalPriceSet": bag("1589.00", "63.56"),
            "currentTotalPriceSet": bag("1094.00", "43.76"), "currentTotalTaxSet": bag("189.87", "7.59"),
            "currentTotalDiscountsSet": bag("100.00", "4.00"), "currentTotalDutiesSet": None}
    order = map_graphql_order(node)
    assert order["total_price"] == "1589.00" and order["current_total_price"] == "1094.00"
    assert order["current_total_price_set"] == {
        "shop_money": {"amount": "1094.00", "currency_code": "CZK"},
        "presentment_money": {"amount": "43.76", "currency_code": "EUR"},
    }
    assert (order["current_total_tax"], order["current_total_discounts"]) == ("189.87", "100.00")
    assert order["current_total_duties"] is None and order["current_total_duties_set"] is None
    assert order["presentment_currency"] == "EUR"
    # The mappers read these fields: Foxdeli sends the customer's current total, parcelLab the shop's.
    from connector.targets.foxdeli.mapping import order_price
    from connector.targets.parcellab.mapping import current_money

    assert order_price(order) == {"amount": 43.76, "currency": "EUR"}
    assert str(current_money(order, "total_price")) == "1094.00"


def test_query_asks_for_both_currencies_and_the_current_totals() -> None:
    for field in ("currentTotalPriceSet", "currentTotalTaxSet", "currentTotalDiscountsSet", "presentmentMoney",
                  "presentmentCurrencyCode", "variant { id } } } }"):
        assert field in ORDERS_QUERY, field
