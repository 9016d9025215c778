"""Shopify order/fulfillment JSON → parcelLab API v4 ``PUT /v4/track/orders/`` bodies. Pure.

Field names and rules come from the parcelLab "Trackings/Orders" page (seed 000,
https://docs.parcellab.com/docs/developers/v4/orders/trackings-orders) and the digest in
``specs/tracking-apis.md`` §1 (cited below as "spec §x"); docs/mapping-parcellab.md has the table.

Every body carries the *core fields* (``account``, ``order_number``,
``destination_country_iso3``, ``recipient_email``) because parcelLab validates them on every
PUT, even a partial update (spec §1.6). Fulfillments become ``add_tracking`` mutations, one per
tracking number; a cancelled order carries a ``cancel_order`` mutation.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from connector.errors import MappingError, WaitingError
from connector.shopify.ids import is_ascii_digits, resource_id
from connector.targets.common import (
    bare_number,
    country_alpha2,
    country_alpha3,
    format_amount,
    language_iso2,
    order_number,
    text,
    to_decimal,
    utc_date,
    utc_millis,
)
from connector.targets.parcellab.couriers import courier_code
from connector.targets.parcellab.settings import ParcellabSettings
from connector.targets.parcellab.timezones import country_timezone

CORE_FIELDS = ("account", "order_number", "destination_country_iso3", "recipient_email")
# Seed 000: "in case email is not known or should be unset, use the literal string '_unset'".
UNSET_EMAIL = "_unset"
# Seed 000: the pattern of every order_*_amount field (decimal strings, max 8 integer digits).
AMOUNT_PATTERN = re.compile(r"^-?\d{0,8}(?:\.\d{0,2})?$")
# Shopify cancel_reason (REST lower-case of OrderCancelReason) → parcelLab's four reasons (spec §3.3).
CANCEL_REASONS: Mapping[str, str] = {
    "customer": "customer",
    "inventory": "inventory",
    "declined": "payment",
    "fraud": "other",
    "staff": "other",
    "other": "other",
}
# order_status is free text "as set up in the system" (seed); "Cancelled" is what parcelLab's own
# cancel_order mutation writes (spec §1.4 row 25), the others are our labels [I].
ORDER_STATUSES: Mapping[str, str] = {
    "fulfilled": "Fulfilled",
    "partial": "Partially Fulfilled",
    "restocked": "Restocked",
}
DEFAULT_ORDER_STATUS = "Processing"
# Shopify fulfillment statuses meaning "this parcel will not travel".
DEAD_FULFILLMENT = {"cancelled", "error", "failure"}
TAG_KEY = "tag"  # key for Shopify tags that have no "key:" part of their own


def map_order(order: dict[str, Any], settings: ParcellabSettings, silent: bool = False) -> dict[str, Any]:
    """The parcelLab upsert body for one Shopify order, cancelled or not.

    Test, voided and cancelled orders are mapped like any other (Shopify's own documented sample
    is all three); test orders are marked with the tag ``shopify:test``. ``silent`` (backfills)
    sets ``notifications_inactive`` on every tracking so a history import messages nobody.
    """
    if not isinstance(order, dict):
        raise MappingError("order payload is not a JSON object")
    payload = _core_fields(order, settings)
    payload.update(_order_details(order))
    payload.update(_cancellation(order))
    mutations: list[dict[str, Any]] = []
    live = [f for f in _fulfillments(order) if _tracking_numbers(f)]
    for fulfillment in live:
        try:
            mutations += _tracking_mutations(fulfillment, payload, order, settings, silent)
        except MappingError:
            # A parcel without a recognisable courier must not block the whole order; the
            # fulfillment's own event (map_fulfillment) reports the refusal.
            continue
    if live:
        payload["has_multiple_shipments"] = _shipment_count(live) > 1
    if order.get("cancelled_at"):
        mutations.append({"type": "cancel_order"})
    if mutations:
        payload["mutations"] = mutations
    return _compact(payload)


def map_fulfillment(
    fulfillment: dict[str, Any],
    order: dict[str, Any] | None,
    settings: ParcellabSettings,
    silent: bool = False,
) -> dict[str, Any] | None:
    """The upsert body (core fields + ``add_tracking`` mutations) for one Shopify fulfillment.

    None when the fulfillment has no tracking number yet (parcelLab tracks parcels by
    courier + number; ``fulfillments/update`` brings the number later). Without the order the
    core fields come from the fulfillment itself; when it lacks them we wait for the order.
    """
    if not isinstance(fulfillment, dict):
        raise MappingError("fulfillment payload is not a JSON object")
    numbers = _tracking_numbers(fulfillment)
    if not numbers:
        return None
    if order is not None:
        payload = _core_fields(order, settings)
        shipments = _shipment_count([*_fulfillments(order, skip=fulfillment), fulfillment])
    else:
        payload = _core_from_fulfillment(fulfillment, settings)
        shipments = len(numbers)
    payload["mutations"] = _tracking_mutations(fulfillment, payload, order, settings, silent)
    if shipments > 1:
        # Only ever set here, never cleared: the order upsert owns the full picture.
        payload["has_multiple_shipments"] = True
    payload["announced_delivery_date"] = utc_date(fulfillment.get("estimated_delivery_at"))
    return _compact(payload)


# -- core fields ---------------------------------------------------------------------------------
def _core_fields(order: dict[str, Any], settings: ParcellabSettings) -> dict[str, Any]:
    """account, order_number, external_reference, client_key, country and email of an order."""
    number = order_number(order, settings.order_number, 255)
    if number is None:
        raise MappingError("order has neither name nor order_number: parcelLab needs order_number")
    return {
        "account": account_id(settings),
        "order_number": number,
        "external_reference": resource_id(order),
        "client_key": text(settings.client_key, 512),
        "destination_country_iso3": destination_country(order),
        "recipient_email": recipient_email(order),
    }


def _core_from_fulfillment(fulfillment: dict[str, Any], settings: ParcellabSettings) -> dict[str, Any]:
    """Core fields from a fulfillment alone (it names order ``#9999`` as ``#9999.1``).

    A missing email or country is not sent as ``_unset``/guessed: the PUT would overwrite what
    the order upsert stored, so we wait for the order instead (WaitingError is transient).
    The fulfillment's ``order_id`` is not used: it is often float-rounded (fixtures README).
    """
    name = text(fulfillment.get("name"))
    base, _, seq = (name or "").rpartition(".")
    country = country_alpha3((fulfillment.get("destination") or {}).get("country_code"))
    email = _email(fulfillment.get("email"))
    if not (base and is_ascii_digits(seq) and country and email):
        raise WaitingError("fulfillment lacks order name/email/country: waiting for its order")
    number = bare_number(base) if settings.order_number == "number" else base
    return {
        "account": account_id(settings),
        "order_number": (number or base)[:255],
        "client_key": text(settings.client_key, 512),
        "destination_country_iso3": country,
        "recipient_email": email,
    }


def account_id(settings: ParcellabSettings) -> int:
    """``target.account`` as the integer parcelLab expects (the config stores it as text)."""
    value = settings.account
    if not is_ascii_digits(value):
        raise MappingError(f"target.account must be the numeric parcelLab account id, got {value!r}")
    return int(value)


def destination_country(order: dict[str, Any]) -> str:
    """Alpha-3 destination: shipping address, else billing address (spec §3.3)."""
    return country_alpha3(_destination_alpha2(order)) or ""


def _destination_alpha2(order: dict[str, Any]) -> str:
    """The alpha-2 code behind destination_country; MappingError naming what was seen."""
    seen = []
    for key in ("shipping_address", "billing_address"):
        code = (order.get(key) or {}).get("country_code")
        alpha2 = country_alpha2(code)
        if alpha2 and country_alpha3(alpha2):
            return alpha2
        if code:
            seen.append(f"{key}.country_code={code!r}")
    detail = ", ".join(seen) or "no shipping or billing country"
    raise MappingError(f"no valid destination country ({detail}); parcelLab requires destination_country_iso3")


def recipient_email(order: dict[str, Any]) -> str:
    """Order email → contact email → customer email → the literal ``_unset`` (seed 000)."""
    for value in (order.get("email"), order.get("contact_email"), (order.get("customer") or {}).get("email")):
        email = _email(value)
        if email:
            return email
    return UNSET_EMAIL


def _email(value: Any) -> str | None:
    email = text(value, 254)
    return email if email and "@" in email.strip("@") else None


# -- order details -------------------------------------------------------------------------------
def _order_details(order: dict[str, Any]) -> dict[str, Any]:
    shipping = order.get("shipping_address") or {}
    billing = order.get("billing_address") or {}
    return {
        "language_iso2": language_iso2(order.get("customer_locale")),
        "delivery_method": _delivery_method(order),
        "recipient_name": (
            _person_name(shipping) or _person_name(order.get("customer") or {}) or _person_name(billing)
        ),
        "customer_number": resource_id(order.get("customer")),
        "payment_method": _payment_method(order),
        **_amounts(order),
        "order_currency": _currency(order.get("currency")),
        "order_date": utc_millis(order.get("created_at")),
        "channel": text(order.get("source_name"), 255),
        "timezone": country_timezone(_destination_alpha2(order)),
        "order_status": _order_status(order),
        "tags": _tags(order.get("tags"), test=order.get("test") is True),
        "shipping_address": _address(shipping),
        "billing_address": _address(billing),
        "articles_order": [_article(item) for item in order.get("line_items") or []] or None,
    }


def _amounts(order: dict[str, Any]) -> dict[str, str | None]:
    """The order's current money (after edits and refunds, as the Foxdeli mapping sends it) as
    pattern-checked strings. Net = total - tax ("usually before tax", seed 000)."""
    total, tax = current_money(order, "total_price"), current_money(order, "total_tax")
    net = total - tax if total is not None and tax is not None else None
    return {
        "order_total_amount": amount(total),
        "order_tax_amount": amount(tax),
        "order_net_amount": amount(net),
        "order_discount_amount": amount(current_money(order, "total_discounts")),
    }


def current_money(order: dict[str, Any], field: str) -> Decimal | None:
    """``current_<field>`` (Shopify's value after order edits and refunds), else ``<field>`` on
    payloads older than the ``current_*`` family. Both are in the shop's currency."""
    current = to_decimal(order.get(f"current_{field}"))
    return current if current is not None else to_decimal(order.get(field))


def amount(value: Any) -> str | None:
    """A 2-decimal string matching the seed's pattern, or None (omitted) when it cannot.

    Amounts of 100 million and more (real in VND/IDR shops) do not fit ``\\d{0,8}``; the field
    is optional, so it is left out rather than rejecting the whole order.
    """
    formatted = format_amount(value)
    return formatted if formatted is not None and AMOUNT_PATTERN.match(formatted) else None


def _currency(value: Any) -> str | None:
    code = text(value)
    return code.upper() if code and len(code) == 3 and code.isalpha() else None


def _delivery_method(order: dict[str, Any]) -> str | None:
    for line in order.get("shipping_lines") or []:
        if isinstance(line, dict) and not line.get("is_removed"):
            return text(line.get("title"), 255)
    return None


def _payment_method(order: dict[str, Any]) -> str | None:
    names = [text(n, 255) for n in order.get("payment_gateway_names") or []]
    return next((n for n in names if n), None) or text(order.get("gateway"), 255)


def _person_name(obj: dict[str, Any]) -> str | None:
    if not isinstance(obj, dict):
        return None
    joined = " ".join(p for p in (text(obj.get("first_name")), text(obj.get("last_name"))) if p)
    return text(obj.get("name")) or text(joined)


def _order_status(order: dict[str, Any]) -> str:
    if order.get("cancelled_at"):
        return "Cancelled"
    return ORDER_STATUSES.get(str(order.get("fulfillment_status") or ""), DEFAULT_ORDER_STATUS)


def _cancellation(order: dict[str, Any]) -> dict[str, Any]:
    """cancelled_date + cancelled_reason folded into parcelLab's four values (unknown → other)."""
    cancelled = utc_millis(order.get("cancelled_at"))
    if cancelled is None:
        return {}
    reason = str(order.get("cancel_reason") or "").strip().lower()
    return {"cancelled_date": cancelled, "cancelled_reason": CANCEL_REASONS.get(reason, "other")}


def _tags(raw: Any, test: bool) -> list[str] | None:
    """Shopify's comma-separated tags as parcelLab ``key:value`` tags (seed: 'category:Home Apparel').

    ``"season: summer"`` → ``"season:summer"``; a plain ``"gift"`` → ``"tag:gift"``.
    """
    items: Iterable[Any] = raw.split(",") if isinstance(raw, str) else raw if isinstance(raw, list) else []
    tags: list[str] = []
    for item in items:
        tag = text(item)
        if tag is None:
            continue
        key, _, value = (part.strip() for part in tag.partition(":"))
        tags.append(f"{key}:{value}" if key and value else f"{TAG_KEY}:{tag.strip(': ')}")
    if test:
        tags.append("shopify:test")
    unique = list(dict.fromkeys(t for t in tags if not t.endswith(":")))
    return unique or None


def _address(addr: dict[str, Any]) -> dict[str, Any] | None:
    """A parcelLab address, or None unless all four required keys are present (spec §1.5)."""
    if not isinstance(addr, dict):
        return None
    line = ", ".join(p for p in (text(addr.get("address1")), text(addr.get("address2"))) if p)
    required = {
        "address_line": text(line),
        "postal_code": text(addr.get("zip")),
        "city": text(addr.get("city")),
        "country_iso3": country_alpha3(addr.get("country_code")),
    }
    if not all(required.values()):
        return None
    return {**required, "first_name": text(addr.get("first_name")), "last_name": text(addr.get("last_name"))}


def _article(item: dict[str, Any]) -> dict[str, Any]:
    """One line item; ``line_item_id`` is the exact Shopify id, stable across orders and fulfillments."""
    line_item_id = resource_id(item)
    if line_item_id is None:
        raise MappingError("line item without a usable id: parcelLab needs a stable line_item_id")
    quantity = item.get("quantity")
    return _compact(
        {
            "line_item_id": line_item_id,
            "sku": text(item.get("sku"), 255),
            "article_name": text(item.get("name"), 255) or text(item.get("title"), 255),
            "quantity": quantity if isinstance(quantity, int) and not isinstance(quantity, bool) else None,
            "unit_price": amount(item.get("price")),
        }
    )


# -- trackings -----------------------------------------------------------------------------------
def _fulfillments(order: dict[str, Any], skip: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    skip_id = resource_id(skip) if skip else None
    return [
        f
        for f in order.get("fulfillments") or []
        if isinstance(f, dict) and (skip_id is None or resource_id(f) != skip_id)
    ]


def _tracking_numbers(fulfillment: dict[str, Any]) -> list[str]:
    raw = fulfillment.get("tracking_numbers") or [fulfillment.get("tracking_number")]
    numbers = [text(n, 255) for n in raw if not isinstance(n, (dict, list))]
    return list(dict.fromkeys(n for n in numbers if n))


def _shipment_count(fulfillments: list[dict[str, Any]]) -> int:
    live = [f for f in fulfillments if str(f.get("status") or "") not in DEAD_FULFILLMENT]
    return len({n for f in live for n in _tracking_numbers(f)})


def _tracking_mutations(
    fulfillment: dict[str, Any],
    core: dict[str, Any],
    order: dict[str, Any] | None,
    settings: ParcellabSettings,
    silent: bool,
) -> list[dict[str, Any]]:
    """One ``add_tracking`` per tracking number (a parcel = courier + number, spec §1.5)."""
    numbers = _tracking_numbers(fulfillment)
    urls = [u for u in fulfillment.get("tracking_urls") or [] if isinstance(u, str)]
    destination = fulfillment.get("destination") or {}
    order_shipping = (order or {}).get("shipping_address") or {}
    # Spec §1.5: the tracking's country only when it differs from the order's.
    tracking_iso3 = country_alpha3(destination.get("country_code"))
    if tracking_iso3 == core["destination_country_iso3"]:
        tracking_iso3 = None
    postal = text(destination.get("zip")) or text(order_shipping.get("zip"))
    ended = utc_millis(fulfillment.get("updated_at")) or utc_millis(fulfillment.get("created_at"))
    # Which items travel in which parcel is unknown when one fulfillment has several numbers,
    # so articles are attached only to single-parcel fulfillments (no double-counted quantities).
    articles = [_article(i) for i in fulfillment.get("line_items") or []] if len(numbers) == 1 else []
    dead = str(fulfillment.get("status") or "") in DEAD_FULFILLMENT
    mutations = []
    for index, number in enumerate(numbers):
        url = urls[index] if index < len(urls) else fulfillment.get("tracking_url")
        courier = courier_code(fulfillment.get("tracking_company"), url, settings.carriers)
        if courier is None:
            raise MappingError(
                f"tracking {number}: no courier (tracking_company={fulfillment.get('tracking_company')!r}, "
                "no known tracking URL); add the carrier name to target.carriers"
            )
        tracking = {
            "tracking_number": number,
            "courier": courier,
            "recipient_postal_code": postal,
            "destination_country_iso3": tracking_iso3,
            "articles": articles or None,
            "cancelled_date": ended if dead else None,
            "notifications_inactive": True if silent else None,
        }
        mutations.append({"type": "add_tracking", "tracking": _compact(tracking)})
    return mutations


def _compact(obj: dict[str, Any]) -> dict[str, Any]:
    """Drop keys whose value is None: parcelLab treats a sent null as "clear this field"."""
    return {k: v for k, v in obj.items() if v is not None}
