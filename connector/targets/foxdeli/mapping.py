"""Shopify order/fulfillment JSON → Foxdeli ``OrderRegistration``/``ParcelRegistration`` (pure).

Field names, enums and formats come from Foxdeli's ``POST /api/v1/order`` docs (a copy of the
page: ``tests/fixtures/vendor/foxdeli-order-api.seed.txt``) and the notes in
``docs/vendors/foxdeli-api.md`` §4–5; ``docs/mapping-foxdeli.md`` is the table of
every rule and fallback. Nothing here does I/O, reads a clock or a random source: the worker
hashes the output to skip unchanged orders.

Keys starting with ``_`` are instructions for our own client, never sent to Foxdeli (the client
strips them): ``_cancelled`` (the order or fulfillment was cancelled in Shopify, so the client
also calls Foxdeli's cancel endpoint) and ``_orderExternalId`` (which order a parcel belongs to).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import pycountry

from connector.errors import MappingError
from connector.shopify.ids import resource_id, shopify_id
from connector.targets.common import json_object, language_iso2, order_number, text, to_decimal, utc_millis
from connector.targets.foxdeli.carriers import carrier_from_url, carrier_table, map_carrier
from connector.targets.foxdeli.destination import map_address, map_destination
from connector.targets.foxdeli.enums import LANGUAGES
from connector.targets.foxdeli.payment import cash_on_delivery, map_payment
from connector.targets.foxdeli.settings import FoxdeliSettings

PLATFORM = "shopify"  # the seed's example value for "name of data source"
UNDEFINED_LANGUAGE = "undefined"  # the seed's own "no language" value
FALLBACK_CUSTOMER_NAME = "Customer"


# -- identifiers ----------------------------------------------------------------------------------
def required_id(resource: Mapping[str, Any], what: str = "order") -> str:
    """The resource's exact Shopify id (:func:`connector.shopify.ids.resource_id`), or MappingError."""
    exact = resource_id(resource)
    if exact is None:
        raise MappingError(f"{what} has no usable id (got {resource.get('id')!r}, and no admin_graphql_api_id)")
    return exact


def line_sku(line: Mapping[str, Any]) -> str | None:
    """The SKU Foxdeli gets for a line item: its SKU, else ``variant-<id>``, else ``line-<id>``.

    Parcels name their products by SKU, so order and fulfillment mapping must agree on it.
    """
    sku = text(line.get("sku"))
    if sku:
        return sku
    for key, prefix in (("variant_id", "variant"), ("id", "line")):
        value = shopify_id(line.get(key))
        if value:
            return f"{prefix}-{value}"
    return None


# -- money ------------------------------------------------------------------------------------------
def money(amount: Any, currency: Any) -> dict[str, Any] | None:
    """Foxdeli ``Money``: amount as a JSON number (``99.96``), ISO-4217 currency; None if invalid.

    Shopify amounts are decimal strings; ``float(Decimal)`` keeps the shortest repr, so
    ``"359.97"`` is sent as ``359.97`` exactly.
    """
    number = to_decimal(amount)
    code = text(currency)
    if number is None or number < 0 or not code or pycountry.currencies.get(alpha_3=code.upper()) is None:
        return None
    return {"amount": float(number), "currency": code.upper()}


def money_field(resource: Mapping[str, Any], field: str, shop_currency: Any) -> dict[str, Any] | None:
    """``<field>_set.presentment_money`` (what the customer saw), else ``<field>`` in shop currency."""
    money_set = resource.get(f"{field}_set")
    if isinstance(money_set, dict):
        for side in ("presentment_money", "shop_money"):
            part = money_set.get(side)
            if isinstance(part, dict) and (found := money(part.get("amount"), part.get("currency_code"))):
                return found
    return money(resource.get(field), shop_currency)


def order_price(order: Mapping[str, Any]) -> dict[str, Any]:
    """The current total (after edits and refunds); ``total_price`` on payloads older than that field."""
    currency = order.get("currency")
    price = money_field(order, "current_total_price", currency) or money_field(order, "total_price", currency)
    if price is None:
        raise MappingError("order has no valid total price and currency (current_total_price/total_price)")
    return price


def _additional_costs(order: Mapping[str, Any]) -> list[dict[str, Any]]:
    currency = order.get("currency")
    costs = []
    for line in order.get("shipping_lines") or []:
        if not isinstance(line, dict) or line.get("is_removed"):
            continue
        price = money_field(line, "discounted_price", currency) or money_field(line, "price", currency)
        if price is not None:
            # The seed requires a non-blank name (^(?!\s*$).+).
            name = text(line.get("title")) or text(line.get("code")) or "Shipping"
            costs.append({"type": "SHIPPING", "price": price, "name": name})
    for field, kind, name in (
        ("current_total_duties", "DUTY", "Duties"),
        ("current_total_additional_fees", "OTHER", "Additional fees"),
    ):
        price = money_field(order, field, None)
        if price is not None and price["amount"] > 0:
            costs.append({"type": kind, "price": price, "name": name})
    tip = money(order.get("total_tip_received"), currency)
    if tip is not None and tip["amount"] > 0:
        costs.append({"type": "OTHER", "price": tip, "name": "Tip"})
    return costs


# -- products -----------------------------------------------------------------------------------
def current_quantity(line: Mapping[str, Any], order: Mapping[str, Any]) -> int:
    """Units still in the order: ``current_quantity``, else ``quantity`` minus refunded units."""
    current = line.get("current_quantity")
    if isinstance(current, int) and not isinstance(current, bool):
        return max(current, 0)
    quantity = line.get("quantity")
    if not isinstance(quantity, int):
        quantity = 0
    refunded = sum(
        item.get("quantity") or 0
        for refund in order.get("refunds") or []
        for item in (refund.get("refund_line_items") or [])
        if item.get("line_item_id") == line.get("id") and isinstance(item.get("quantity"), int)
    )
    return max(quantity - refunded, 0)


def vat_rate(line: Mapping[str, Any]) -> float | None:
    """The line's tax rate in percent (``0.21`` → ``21.0``); summed when taxes stack (US state + county)."""
    parsed = [to_decimal(t.get("rate")) for t in line.get("tax_lines") or [] if isinstance(t, dict)]
    rates = [r for r in parsed if r is not None]
    if not rates:
        return None
    return float((sum(rates, Decimal(0)) * 100).normalize())


def product_type(line: Mapping[str, Any]) -> str:
    """``VOUCHER`` for gift cards, ``DIGITAL_PRODUCT`` when nothing ships, else ``PRODUCT``."""
    if line.get("gift_card"):
        return "VOUCHER"
    return "DIGITAL_PRODUCT" if line.get("requires_shipping") is False else "PRODUCT"


def _image(line: Mapping[str, Any]) -> str | None:
    # REST order webhooks carry no image; some payloads (and GraphQL-shaped re-syncs) do.
    image = line.get("image")
    url = image.get("src") or image.get("url") if isinstance(image, dict) else image
    url = text(url)
    return url if url and url.startswith(("https://", "http://")) else None


def map_product(line: Mapping[str, Any], order: Mapping[str, Any]) -> dict[str, Any] | None:
    """One line item → ``ProductRequest``; None when no unit is left (refunded or removed)."""
    quantity = current_quantity(line, order)
    if quantity < 1:  # the seed: quantity >= 1
        return None
    product: dict[str, Any] = {"type": product_type(line), "quantity": quantity}
    optional = {
        "sku": line_sku(line),
        "name": text(line.get("name")) or text(line.get("title")),
        "price": money_field(line, "price", order.get("currency")),
        "vat": vat_rate(line),
        "image": _image(line),
    }
    product.update({key: value for key, value in optional.items() if value is not None})
    return product


def ships_anything(order: Mapping[str, Any]) -> bool:
    """True when a line item with units left requires shipping."""
    return any(
        isinstance(line, dict) and line.get("requires_shipping") is not False and current_quantity(line, order) > 0
        for line in order.get("line_items") or []
    )


# -- people -------------------------------------------------------------------------------------
def _full_name(person: Any) -> str | None:
    if not isinstance(person, dict):
        return None
    joined = " ".join(p for p in (text(person.get("first_name")), text(person.get("last_name"))) if p)
    return joined or text(person.get("name"))


def _first_text(*values: Any) -> str | None:
    return next((t for t in map(text, values) if t), None)


def map_customer(order: Mapping[str, Any]) -> dict[str, str]:
    """``CustomerRequest``. Foxdeli requires all three keys non-null (vendor SDK), so a missing
    email or phone is sent as ``""``: an empty contact is not a made-up one that would bounce.
    """
    customer = json_object(order.get("customer"))
    shipping, billing = order.get("shipping_address") or {}, order.get("billing_address") or {}
    default = customer.get("default_address") or {}
    name = (
        _full_name(customer)
        or _full_name(billing)
        or _full_name(shipping)
        or _first_text(order.get("email"), customer.get("email"))
        or FALLBACK_CUSTOMER_NAME
    )
    email = _first_text(order.get("email"), order.get("contact_email"), customer.get("email"))
    phone = _first_text(
        order.get("phone"),
        customer.get("phone"),
        shipping.get("phone"),
        billing.get("phone"),
        default.get("phone") if isinstance(default, dict) else None,
    )
    return {"name": name, "email": email or "", "phone": phone or ""}


def map_billing(order: Mapping[str, Any]) -> dict[str, Any] | None:
    """``BillingDetailsRequest`` from ``billing_address`` (None when Shopify has none)."""
    billing = order.get("billing_address")
    if not isinstance(billing, dict):
        return None
    details = {
        "name": _full_name(billing),
        "companyName": text(billing.get("company")),
        "billingAddress": map_address(billing),
        "email": _first_text(order.get("email"), order.get("contact_email")),
        "phone": text(billing.get("phone")),
    }
    details = {key: value for key, value in details.items() if value}
    return details or None


def map_language(order: Mapping[str, Any]) -> str:
    """``customer_locale`` (``"cs-CZ"`` → ``"cs"``) if the seed lists it, else ``"undefined"``."""
    code = language_iso2(order.get("customer_locale"))
    return code if code in LANGUAGES else UNDEFINED_LANGUAGE


# -- the two entry points ---------------------------------------------------------------------------
def map_order(order: dict[str, Any], settings: FoxdeliSettings) -> dict[str, Any]:
    """A Shopify order (any ``orders/*`` body) → Foxdeli ``OrderRegistration``.

    Cancelled orders are mapped like any other, plus ``_cancelled`` (UTC millis of
    ``cancelled_at``) so the payload, and its hash, change on cancellation.
    """
    eshop_id = settings.eshop_id
    if not eshop_id:
        raise MappingError("settings eshop_id is empty: Foxdeli needs the e-shop UUID")
    carriers = carrier_table(settings.carriers)
    price = order_price(order)
    payment = map_payment(order)
    registration: dict[str, Any] = {
        "eshopId": eshop_id,
        "platform": PLATFORM,
        "externalIdentifier": required_id(order),
        "price": price,
        "customer": map_customer(order),
        "payment": payment,
        "additionalCosts": _additional_costs(order),
        "products": [p for line in order.get("line_items") or [] if (p := map_product(line, order))],
        "language": map_language(order),
    }
    optional = {
        "externalCreated": utc_millis(order.get("created_at")) or utc_millis(order.get("processed_at")),
        "orderNumber": order_number(order, settings.order_number),
        "cashOnDelivery": cash_on_delivery(order, price, payment),
        "destination": map_destination(order, carriers, ships_anything(order)),
        "billingDetails": map_billing(order),
        "communication": _communication(order),
    }
    registration.update({key: value for key, value in optional.items() if value is not None})
    if order.get("cancelled_at"):
        registration["_cancelled"] = utc_millis(order.get("cancelled_at")) or str(order["cancelled_at"])
    return registration


def _communication(order: Mapping[str, Any]) -> dict[str, Any] | None:
    url = text(order.get("order_status_url"))
    return {"orderDetailUrl": url} if url and url.startswith(("https://", "http://")) else None


def map_fulfillment(fulfillment: dict[str, Any], settings: FoxdeliSettings) -> dict[str, Any]:
    """A Shopify fulfillment → its Foxdeli parcels: one ``ParcelRegistration`` per tracking
    number (also the body of a parcel PATCH).

    Shopify puts every package of one shipment in ``tracking_numbers``; Foxdeli reads several
    ``tracking`` entries of one parcel as legs of one journey (spec §2.5), so each number is a
    parcel of its own, with the carrier its own tracking URL names when ``tracking_company``
    is unknown. A fulfillment without a number is still one parcel (Foxdeli's documented
    workflow); its number comes later with ``fulfillments/update``.
    """
    carriers = carrier_table(settings.carriers)
    named = map_carrier(fulfillment.get("tracking_company"), carriers)
    skus = [line_sku(line) for line in fulfillment.get("line_items") or [] if isinstance(line, dict)]
    common: dict[str, Any] = {"products": list(dict.fromkeys(s for s in skus if s))}
    created = utc_millis(fulfillment.get("created_at"))
    if created:
        common["externalCreated"] = created
    # A number without a URL of its own: the carrier another of the shipment's URLs names.
    shipment_carrier = next((c for c in map(carrier_from_url, _urls(fulfillment)) if c), named)
    parcels = []
    pairs: list[tuple[str | None, str | None]] = [*tracking_pairs(fulfillment)] or [(None, None)]
    for number, url in pairs:
        carrier = named if named != "UNKNOWN" else (carrier_from_url(url) or shipment_carrier)
        tracking: dict[str, Any] = {"carrier": carrier}
        if number:
            tracking["number"] = number
        parcels.append({**common, "tracking": [tracking]})
    payload: dict[str, Any] = {"parcels": parcels, "_orderExternalId": _order_ref(fulfillment)}
    if fulfillment.get("status") == "cancelled":
        payload["_cancelled"] = utc_millis(fulfillment.get("updated_at")) or "cancelled"
    return payload


def tracking_pairs(fulfillment: Mapping[str, Any]) -> list[tuple[str, str | None]]:
    """(number, its tracking URL) for each distinct tracking number, in Shopify's order.

    ``tracking_urls`` runs beside ``tracking_numbers``; when the lists do not line up (a
    re-synced fulfillment leaves out missing URLs), a number takes the URL that contains it.
    """
    numbers = list(dict.fromkeys(n for n in map(text, fulfillment.get("tracking_numbers") or []) if n))
    single = text(fulfillment.get("tracking_number"))
    if not numbers and single:
        numbers = [single]
    urls = [u for u in fulfillment.get("tracking_urls") or [] if isinstance(u, str) and u]
    aligned = len(urls) == len(numbers)
    pairs = []
    for index, number in enumerate(numbers):
        url = urls[index] if aligned else next((u for u in urls if number in u), None)
        if url is None and len(numbers) == 1:
            url = next(iter(_urls(fulfillment)), None)
        pairs.append((number, url))
    return pairs


def _urls(fulfillment: Mapping[str, Any]) -> list[str]:
    raw = [*(fulfillment.get("tracking_urls") or []), fulfillment.get("tracking_url")]
    return list(dict.fromkeys(u for u in raw if isinstance(u, str) and u))


def _order_ref(fulfillment: Mapping[str, Any]) -> str:
    order_id = shopify_id(fulfillment.get("order_id"))
    if order_id is None:
        raise MappingError(f"fulfillment has no usable order_id (got {fulfillment.get('order_id')!r})")
    return order_id
