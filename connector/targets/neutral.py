"""The neutral order shape: a vendor-free summary of a Shopify order (pure).

Used by the ``dry-run`` target (until a vendor mapping is chosen) and the generic ``http``
target. Documented in docs/mapping-neutral.md.
"""

from __future__ import annotations

from typing import Any

from connector.targets.common import format_amount, json_object, text, utc_millis

NEUTRAL_VERSION = 1


def _current_quantity(line: dict[str, Any]) -> int:
    # current_quantity reflects edits and refunds (newer API versions); quantity is the original.
    value = line.get("current_quantity", line.get("quantity"))
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _address(address: Any) -> dict[str, Any] | None:
    if not isinstance(address, dict):
        return None
    fields = ("name", "company", "address1", "address2", "city", "zip", "province_code", "country_code", "phone")
    out = {key: text(address.get(key)) for key in fields}
    return out if any(out.values()) else None


def _customer(order: dict[str, Any]) -> dict[str, Any]:
    customer = json_object(order.get("customer"))
    names = [text(customer.get("first_name")), text(customer.get("last_name"))]
    return {
        "id": customer.get("id"),
        "name": " ".join(n for n in names if n) or None,
        "email": text(order.get("email")) or text(order.get("contact_email")) or text(customer.get("email")),
        "phone": text(order.get("phone")) or text(customer.get("phone")),
    }


def _fulfillment(fulfillment: dict[str, Any]) -> dict[str, Any]:
    numbers = fulfillment.get("tracking_numbers") or (
        [fulfillment["tracking_number"]] if fulfillment.get("tracking_number") else []
    )
    return {
        "id": fulfillment.get("id"),
        "status": text(fulfillment.get("status")),
        "tracking_company": text(fulfillment.get("tracking_company")),
        "tracking_numbers": [str(n) for n in numbers if n],
        "tracking_urls": [str(u) for u in fulfillment.get("tracking_urls") or [] if u],
        "line_items": [
            {"id": li.get("id"), "sku": text(li.get("sku")), "quantity": li.get("quantity")}
            for li in fulfillment.get("line_items") or []
            if isinstance(li, dict)
        ],
        "updated_at": utc_millis(fulfillment.get("updated_at")),
    }


def map_neutral_order(order: dict[str, Any]) -> dict[str, Any]:
    """Shopify order JSON → neutral order document. Ids stay exact integers."""
    lines = [li for li in order.get("line_items") or [] if isinstance(li, dict)]
    return {
        "version": NEUTRAL_VERSION,
        "order_id": order.get("id"),
        "name": text(order.get("name")),
        "number": order.get("order_number"),
        "created_at": utc_millis(order.get("created_at")),
        "updated_at": utc_millis(order.get("updated_at")),
        "cancelled_at": utc_millis(order.get("cancelled_at")),
        "cancel_reason": text(order.get("cancel_reason")),
        "test": bool(order.get("test")),
        "financial_status": text(order.get("financial_status")),
        "fulfillment_status": text(order.get("fulfillment_status")),
        "currency": text(order.get("currency")),
        "total_price": format_amount(order.get("total_price")),
        # After order edits and refunds (Shopify's current_total_price); the original total on
        # payloads older than that field.
        "current_total_price": format_amount(order.get("current_total_price") or order.get("total_price")),
        "customer": _customer(order),
        "shipping_address": _address(order.get("shipping_address")),
        "line_items": [
            {
                "id": li.get("id"),
                "sku": text(li.get("sku")),
                "title": text(li.get("title")) or text(li.get("name")),
                "quantity": _current_quantity(li),
                "price": format_amount(li.get("price")),
            }
            for li in lines
        ],
        "fulfillments": [_fulfillment(f) for f in order.get("fulfillments") or [] if isinstance(f, dict)],
        "status_url": text(order.get("order_status_url")),
    }


def map_neutral_part(kind: str, part: dict[str, Any]) -> dict[str, Any]:
    """A fulfillment or refund in the neutral shape."""
    if kind == "fulfillment":
        return {"version": NEUTRAL_VERSION, "order_id": part.get("order_id"), **_fulfillment(part)}
    return {
        "version": NEUTRAL_VERSION,
        "id": part.get("id"),
        "order_id": part.get("order_id"),
        "created_at": utc_millis(part.get("created_at")),
        "line_items": [
            {"line_item_id": r.get("line_item_id"), "quantity": r.get("quantity")}
            for r in part.get("refund_line_items") or []
            if isinstance(r, dict)
        ],
    }
