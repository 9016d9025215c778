"""Where a Shopify order goes, as a Foxdeli ``DestinationRequest`` (pure, no I/O).

Foxdeli knows three destination types (seed ``004_07df1430893145f9.txt``, "Type of
destination"): ``HOUSE_ADDRESS`` needs ``address`` (``line1``, ``city``, ``countryCode``);
``PARCEL_SHOP``/``PARCEL_BOX`` need ``parcelShop`` (``carrier``, ``countryCode``,
``parcelShopId``). An order that ships nothing gets no destination at all.

Shopify's REST order has no field for a pickup point, so checkout apps (Packeta, InPost,
Balíkovna, ...) write it into ``note_attributes``. We detect these attribute names (compared in
lower case, with spaces and dashes read as ``_``):

* the point's id: ``pickup_point_id``, ``parcel_shop_id``, ``parcelshop_id``, ``pickup_place_id``,
  ``packeta_point_id``, ``zasilkovna_id``, ``branch_id``, ``locker_id``, ``paczkomat``;
* its carrier (optional): ``pickup_point_carrier``, ``parcel_shop_carrier``, ``carrier``;
  else the first shipping line's ``source``, ``title`` or ``code`` through the carrier table;
  else ``UNKNOWN``;
* its kind (optional): ``pickup_point_type`` = ``box``/``locker``/``parcel_box``/``z-box`` →
  ``PARCEL_BOX``, anything else → ``PARCEL_SHOP``; without it, a shipping line title naming a
  box or locker (``box``, ``locker``, ``paczkomat``) means ``PARCEL_BOX``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from connector.targets.common import country_alpha2, text
from connector.targets.foxdeli.carriers import map_carrier
from connector.targets.foxdeli.enums import COUNTRY_CODES

UNDEFINED_COUNTRY = "UNDEFINED"
_POINT_ID_KEYS = (
    "pickup_point_id",
    "parcel_shop_id",
    "parcelshop_id",
    "pickup_place_id",
    "packeta_point_id",
    "zasilkovna_id",
    "branch_id",
    "locker_id",
    "paczkomat",
)
_POINT_CARRIER_KEYS = ("pickup_point_carrier", "parcel_shop_carrier", "carrier")
_POINT_TYPE_KEYS = ("pickup_point_type", "parcel_shop_type")
_BOX_WORDS = re.compile(r"\b(box|z[ -]?box|alzabox|locker|paczkomat\w*|packstation|automat)\b", re.I)


def country_code(address: Mapping[str, Any] | None) -> str:
    """Shopify ``country_code`` → a code from the seed's list, ``UNDEFINED`` when unusable."""
    code = country_alpha2((address or {}).get("country_code"))
    return code if code in COUNTRY_CODES else UNDEFINED_COUNTRY


def map_address(address: Any) -> dict[str, Any] | None:
    """Shopify address → Foxdeli ``AddressRequest``; None without ``address1`` or ``city``.

    Foxdeli requires ``line1``, ``city`` and ``countryCode``; an address that lacks the first
    two cannot be delivered to, so it is left out rather than sent half-empty.
    """
    if not isinstance(address, dict):
        return None
    line1, city = text(address.get("address1")), text(address.get("city"))
    if not line1 or not city:
        return None
    out: dict[str, Any] = {"line1": line1, "city": city, "countryCode": country_code(address)}
    optional = {
        "line2": text(address.get("address2")),
        "postalCode": text(address.get("zip")),
        "state": text(address.get("province")),
    }
    out.update({key: value for key, value in optional.items() if value})
    latitude, longitude = _coordinate(address.get("latitude"), 90), _coordinate(address.get("longitude"), 180)
    if latitude is not None and longitude is not None:
        out["latitude"], out["longitude"] = latitude, longitude
    return out


def _coordinate(value: Any, bound: float) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return number if -bound <= number <= bound else None


def note_attributes(order: Mapping[str, Any]) -> dict[str, str]:
    """``note_attributes`` as a dict with normalised names (``"Pickup point ID"`` → ``pickup_point_id``)."""
    out: dict[str, str] = {}
    for item in order.get("note_attributes") or []:
        if isinstance(item, dict) and text(item.get("name")) and text(item.get("value")):
            name = re.sub(r"[\s\-]+", "_", str(item["name"]).strip().lower())
            out.setdefault(name, text(item["value"]) or "")
    return out


def _first(values: Mapping[str, str], keys: tuple[str, ...]) -> str | None:
    return next((values[k] for k in keys if values.get(k)), None)


def _shipping_line(order: Mapping[str, Any]) -> Mapping[str, Any]:
    lines = [s for s in order.get("shipping_lines") or [] if isinstance(s, dict) and not s.get("is_removed")]
    return lines[0] if lines else {}


def map_pickup_point(order: Mapping[str, Any], carriers: Mapping[str, str]) -> dict[str, Any] | None:
    """A ``PARCEL_SHOP``/``PARCEL_BOX`` destination when the order names a pickup point, else None."""
    attributes = note_attributes(order)
    point_id = _first(attributes, _POINT_ID_KEYS)
    if not point_id:
        return None
    shipping = _shipping_line(order)
    carrier = "UNKNOWN"
    for candidate in (
        _first(attributes, _POINT_CARRIER_KEYS),
        shipping.get("source"),
        shipping.get("title"),
        shipping.get("code"),
    ):
        carrier = map_carrier(candidate, carriers)
        if carrier != "UNKNOWN":
            break
    # An explicit type attribute wins; else the shipping method's title ("Z-BOX", "Paczkomat").
    hint = _first(attributes, _POINT_TYPE_KEYS) or str(shipping.get("title") or "")
    is_box = bool(_BOX_WORDS.search(hint.replace("_", " ")))
    address = order.get("shipping_address") or order.get("billing_address")
    destination: dict[str, Any] = {
        "type": "PARCEL_BOX" if is_box else "PARCEL_SHOP",
        "parcelShop": {"carrier": carrier, "countryCode": country_code(address), "parcelShopId": point_id},
    }
    # The pickup apps put the point's own address into shipping_address: worth showing.
    mapped = map_address(order.get("shipping_address"))
    if mapped:
        destination["address"] = mapped
    return destination


def map_destination(order: Mapping[str, Any], carriers: Mapping[str, str], ships: bool) -> dict[str, Any] | None:
    """The order's destination: pickup point, else house address, else None.

    ``ships`` is False when no remaining line item requires shipping (digital goods, gift cards,
    everything refunded): such an order has nowhere to go, so it gets no destination.
    """
    if not ships:
        return None
    pickup = map_pickup_point(order, carriers)
    if pickup:
        return pickup
    address = map_address(order.get("shipping_address"))
    return {"type": "HOUSE_ADDRESS", "address": address} if address else None
