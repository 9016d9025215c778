"""A GraphQL Admin API ``Order`` → the REST/webhook order JSON the mappers read (pure).

Re-synced orders enter the same pipeline as ``orders/updated`` webhooks, so they must look like
webhook bodies: snake_case keys, numeric ids, money as decimal strings, lower-case enums. Only
the fields the targets read are produced (see :data:`ORDERS_QUERY`); everything else a webhook
carries is simply absent, which the mappers already tolerate.

GraphQL ↔ REST correspondences follow Shopify's REST→GraphQL migration notes
(https://shopify.dev/docs/api/admin-graphql/latest/objects/Order and the REST ``Order`` resource).
"""

from __future__ import annotations

from typing import Any

from connector.shopify.ids import gid_id, shopify_id

# Nested connections are kept small on purpose: Shopify reserves ``first`` × nested ``first`` as
# the *requested* cost of a page, so wide nesting makes every page expensive (shopify.md §4).
ORDER_FIELDS = """
id name email phone createdAt updatedAt processedAt cancelledAt cancelReason
displayFinancialStatus displayFulfillmentStatus currencyCode presentmentCurrencyCode
customerLocale statusPageUrl tags paymentGatewayNames sourceName test note
totalPriceSet { ...Money }
subtotalPriceSet { ...Money }
totalTaxSet { ...Money }
totalDiscountsSet { ...Money }
totalOutstandingSet { ...Money }
currentTotalPriceSet { ...Money }
currentSubtotalPriceSet { ...Money }
currentTotalTaxSet { ...Money }
currentTotalDiscountsSet { ...Money }
currentTotalDutiesSet { ...Money }
currentTotalAdditionalFeesSet { ...Money }
totalTipReceivedSet { ...Money }
customer { id firstName lastName email phone }
shippingAddress { ...Addr }
billingAddress { ...Addr }
lineItems(first: 50) { nodes {
  id sku title name quantity currentQuantity requiresShipping isGiftCard vendor
  originalUnitPriceSet { ...Money }
  variant { id } product { id }
} }
fulfillments(first: 10) {
  id name status createdAt updatedAt estimatedDeliveryAt
  trackingInfo(first: 5) { company number url }
  fulfillmentLineItems(first: 50) { nodes { id quantity lineItem { id sku variant { id } } } }
}
shippingLines(first: 5, includeRemovals: true) { nodes {
  id title code source carrierIdentifier isRemoved
  originalPriceSet { ...Money }
  discountedPriceSet { ...Money }
} }
"""

ADDRESS_FIELDS = """
fragment Addr on MailingAddress {
  firstName lastName name company address1 address2 city province provinceCode
  zip country countryCodeV2 phone latitude longitude
}
fragment Money on MoneyBag {
  shopMoney { amount currencyCode }
  presentmentMoney { amount currencyCode }
}
"""

ORDERS_QUERY = (
    "query ConnectorOrders($first: Int!, $after: String, $query: String) {\n"
    "  orders(first: $first, after: $after, sortKey: UPDATED_AT, query: $query) {\n"
    "    pageInfo { hasNextPage endCursor }\n"
    f"    nodes {{ {ORDER_FIELDS} }}\n"
    "  }\n"
    "}\n" + ADDRESS_FIELDS
)

# displayFulfillmentStatus → REST fulfillment_status where REST has its own word; any other
# value is lower-cased (REST uses null for an unfulfilled order).
_FULFILLMENT_STATUS: dict[Any, str | None] = {
    "UNFULFILLED": None,
    "PARTIALLY_FULFILLED": "partial",
    "FULFILLED": "fulfilled",
    "RESTOCKED": "restocked",
}


def gid_to_id(gid: Any) -> int | None:
    """``gid://shopify/Order/820982911946154508`` → ``820982911946154508`` as an exact int.

    Never through a float: Shopify ids exceed 2**53. Query strings (``?…``) are ignored; an int
    is taken as the id itself.
    """
    exact = shopify_id(gid) if isinstance(gid, int) else gid_id(gid)
    return int(exact) if exact else None


def _money(value: Any) -> str | None:
    """``{"shopMoney": {"amount": "12.50"}}`` → ``"12.50"`` (kept as the exact string)."""
    if isinstance(value, dict):
        amount = (value.get("shopMoney") or {}).get("amount")
        return None if amount is None else str(amount)
    return None


def _money_set(value: Any) -> dict[str, Any] | None:
    """A GraphQL ``MoneyBag`` → REST's ``*_set`` (``shop_money``/``presentment_money``), so a
    re-synced order shows the customer's currency exactly as its webhooks do."""
    if not isinstance(value, dict):
        return None
    out = {}
    for graphql, rest in (("shopMoney", "shop_money"), ("presentmentMoney", "presentment_money")):
        money = value.get(graphql)
        if isinstance(money, dict) and money.get("amount") is not None:
            out[rest] = {"amount": str(money["amount"]), "currency_code": money.get("currencyCode")}
    return out or None


def _money_fields(node: dict[str, Any], fields: dict[str, str]) -> dict[str, Any]:
    """REST ``<field>`` (shop currency) and ``<field>_set`` for each GraphQL ``<name>Set``."""
    out: dict[str, Any] = {}
    for rest, graphql in fields.items():
        out[rest] = _money(node.get(graphql))
        out[f"{rest}_set"] = _money_set(node.get(graphql))
    return out


# REST money field ← GraphQL MoneyBag field, on the order.
_ORDER_MONEY = {
    "total_price": "totalPriceSet",
    "subtotal_price": "subtotalPriceSet",
    "total_tax": "totalTaxSet",
    "total_discounts": "totalDiscountsSet",
    "total_outstanding": "totalOutstandingSet",
    # After order edits and refunds: what the targets send as the order's value.
    "current_total_price": "currentTotalPriceSet",
    "current_subtotal_price": "currentSubtotalPriceSet",
    "current_total_tax": "currentTotalTaxSet",
    "current_total_discounts": "currentTotalDiscountsSet",
    "current_total_duties": "currentTotalDutiesSet",
    "current_total_additional_fees": "currentTotalAdditionalFeesSet",
    "total_tip_received": "totalTipReceivedSet",
}


def _lower(value: Any) -> str | None:
    return value.lower() if isinstance(value, str) and value else None


def _nodes(connection: Any) -> list[dict[str, Any]]:
    """Items of a connection (``nodes`` or ``edges``) or of a plain list."""
    if isinstance(connection, list):
        return [n for n in connection if isinstance(n, dict)]
    if not isinstance(connection, dict):
        return []
    if "nodes" in connection:
        return [n for n in connection["nodes"] or [] if isinstance(n, dict)]
    return [e["node"] for e in connection.get("edges") or [] if isinstance(e, dict) and isinstance(e.get("node"), dict)]


def map_address(address: Any) -> dict[str, Any] | None:
    if not isinstance(address, dict):
        return None
    return {
        "first_name": address.get("firstName"),
        "last_name": address.get("lastName"),
        "name": address.get("name"),
        "company": address.get("company"),
        "address1": address.get("address1"),
        "address2": address.get("address2"),
        "city": address.get("city"),
        "province": address.get("province"),
        "province_code": address.get("provinceCode"),
        "zip": address.get("zip"),
        "country": address.get("country"),
        "country_code": address.get("countryCodeV2"),
        "phone": address.get("phone"),
        "latitude": address.get("latitude"),
        "longitude": address.get("longitude"),
    }


def map_customer(customer: Any) -> dict[str, Any] | None:
    if not isinstance(customer, dict):
        return None
    return {
        "id": gid_to_id(customer.get("id")),
        "first_name": customer.get("firstName"),
        "last_name": customer.get("lastName"),
        "email": customer.get("email"),
        "phone": customer.get("phone"),
    }


def map_line_item(line: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": gid_to_id(line.get("id")),
        "variant_id": gid_to_id((line.get("variant") or {}).get("id")),
        "product_id": gid_to_id((line.get("product") or {}).get("id")),
        "sku": line.get("sku"),
        "title": line.get("title"),
        "name": line.get("name"),
        "vendor": line.get("vendor"),
        "quantity": line.get("quantity"),
        "current_quantity": line.get("currentQuantity"),
        "price": _money(line.get("originalUnitPriceSet")),
        "price_set": _money_set(line.get("originalUnitPriceSet")),
        "requires_shipping": line.get("requiresShipping"),
        "gift_card": line.get("isGiftCard"),
    }


def map_fulfillment(fulfillment: dict[str, Any], order_id: int | None) -> dict[str, Any]:
    """One fulfillment with REST's tracking fields (first number/url plus the full lists)."""
    tracking = [t for t in fulfillment.get("trackingInfo") or [] if isinstance(t, dict)]
    numbers = [t["number"] for t in tracking if t.get("number")]
    urls = [t["url"] for t in tracking if t.get("url")]
    company = next((t["company"] for t in tracking if t.get("company")), None)
    return {
        "id": gid_to_id(fulfillment.get("id")),
        "order_id": order_id,
        "name": fulfillment.get("name"),
        "status": _lower(fulfillment.get("status")),
        "created_at": fulfillment.get("createdAt"),
        "updated_at": fulfillment.get("updatedAt"),
        "estimated_delivery_at": fulfillment.get("estimatedDeliveryAt"),
        "tracking_company": company,
        "tracking_number": numbers[0] if numbers else None,
        "tracking_numbers": numbers,
        "tracking_url": urls[0] if urls else None,
        "tracking_urls": urls,
        "line_items": [
            {
                "id": gid_to_id((fli.get("lineItem") or {}).get("id")),
                "variant_id": gid_to_id(((fli.get("lineItem") or {}).get("variant") or {}).get("id")),
                "sku": (fli.get("lineItem") or {}).get("sku"),
                "quantity": fli.get("quantity"),
            }
            for fli in _nodes(fulfillment.get("fulfillmentLineItems"))
        ],
    }


def map_shipping_line(line: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": gid_to_id(line.get("id")),
        "title": line.get("title"),
        "code": line.get("code"),
        "source": line.get("source"),
        "carrier_identifier": line.get("carrierIdentifier"),
        "is_removed": bool(line.get("isRemoved")),
        "price": _money(line.get("originalPriceSet")),
        "price_set": _money_set(line.get("originalPriceSet")),
        "discounted_price": _money(line.get("discountedPriceSet")),
        "discounted_price_set": _money_set(line.get("discountedPriceSet")),
    }


def map_graphql_order(node: dict[str, Any]) -> dict[str, Any]:
    """A GraphQL ``Order`` node (fields of :data:`ORDERS_QUERY`) → REST webhook order shape."""
    order_id = gid_to_id(node.get("id"))
    name = node.get("name")
    fulfillment = node.get("displayFulfillmentStatus")
    tags = node.get("tags")
    return {
        "id": order_id,
        "admin_graphql_api_id": node.get("id"),
        "name": name,
        # REST's order_number is the name's digits without prefix/suffix (#1001 → 1001).
        "order_number": _order_number(name),
        "email": node.get("email"),
        "contact_email": node.get("email"),
        "phone": node.get("phone"),
        "created_at": node.get("createdAt"),
        "updated_at": node.get("updatedAt"),
        "processed_at": node.get("processedAt"),
        "cancelled_at": node.get("cancelledAt"),
        "cancel_reason": _lower(node.get("cancelReason")),
        "financial_status": _lower(node.get("displayFinancialStatus")),
        "fulfillment_status": _FULFILLMENT_STATUS.get(fulfillment, _lower(fulfillment)),
        "currency": node.get("currencyCode"),
        "presentment_currency": node.get("presentmentCurrencyCode"),
        **_money_fields(node, _ORDER_MONEY),
        "customer": map_customer(node.get("customer")),
        "shipping_address": map_address(node.get("shippingAddress")),
        "billing_address": map_address(node.get("billingAddress")),
        "line_items": [map_line_item(li) for li in _nodes(node.get("lineItems"))],
        "fulfillments": [map_fulfillment(f, order_id) for f in _nodes(node.get("fulfillments"))],
        "shipping_lines": [map_shipping_line(s) for s in _nodes(node.get("shippingLines"))],
        "customer_locale": node.get("customerLocale"),
        "order_status_url": node.get("statusPageUrl"),
        # REST joins tags with ", " (the webhook shape); GraphQL gives a list.
        "tags": ", ".join(tags) if isinstance(tags, list) else (tags or ""),
        "payment_gateway_names": list(node.get("paymentGatewayNames") or []),
        "source_name": node.get("sourceName"),
        "note": node.get("note"),
        "test": bool(node.get("test")),
    }


def _order_number(name: Any) -> int | None:
    digits = "".join(ch for ch in str(name or "") if "0" <= ch <= "9")
    return int(digits) if digits else None
