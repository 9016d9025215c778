"""Strict request validation for the Foxdeli stand-in, written from Foxdeli's documentation.

Rules: the order API's reference, https://api.foxdeli.com/docs/api/tracking/create-order (fields, enums, formats; a copy
is kept in the repository as tests/fixtures/vendor/foxdeli-order-api.seed.txt), and Foxdeli's
SDKs (github.com/foxdeli/api-php-sdk, api-java-sdk) for names and required fields. Stricter than Foxdeli where the docs are silent: unknown keys are violations, so a leaked
``_cancelled`` or a misspelt field is caught. Each validator returns ``{path: message}``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from connector.targets.foxdeli import enums

Violations = dict[str, str]
UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")  # YYYY-MM-DDThh:mm:ss.sssZ
NOT_BLANK = re.compile(r"^(?!\s*$).+")  # the seed's rule for additionalCosts[].name
CURRENCY = re.compile(r"^[A-Z]{3}$")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def string(value: Any) -> str | None:
    return None if isinstance(value, str) else "must be a string"


def datetime_(value: Any) -> str | None:
    return None if isinstance(value, str) and DATETIME.match(value) else "must be YYYY-MM-DDThh:mm:ss.sssZ"


def number(value: Any) -> str | None:
    return None if _is_number(value) else "must be a number"


def enum(allowed: frozenset[str]) -> Callable[[Any], str | None]:
    def check(value: Any) -> str | None:
        return None if value in allowed else f"Invalid value: {value}. Value must be one of the documented values"

    return check


Field = tuple[Callable[..., Any], bool]  # (validator, required)
# Objects and arrays: validators that recurse with a path (the schema's, built at import).
_COMPOSITE: set[Callable[..., Any]] = set()


def obj(fields: dict[str, Field]) -> Callable[[Any, str, Violations], None]:
    """A validator for a JSON object with these fields; unknown keys are violations."""

    def check(value: Any, path: str, out: Violations) -> None:
        if not isinstance(value, dict):
            out[path or "body"] = "must be an object"
            return
        for key in value.keys() - fields.keys():
            out[_join(path, key)] = "unknown field"
        for key, (validator, required) in fields.items():
            if key not in value or value[key] is None:
                if required:
                    out[_join(path, key)] = "must not be null"
                continue
            _apply(validator, value[key], _join(path, key), out)

    _COMPOSITE.add(check)
    return check


def array(item: Callable[..., Any]) -> Callable[[Any, str, Violations], None]:
    def check(value: Any, path: str, out: Violations) -> None:
        if not isinstance(value, list):
            out[path] = "must be an array"
            return
        for index, element in enumerate(value):
            _apply(item, element, f"{path}[{index}]", out)

    _COMPOSITE.add(check)
    return check


def _apply(validator: Callable[..., Any], value: Any, path: str, out: Violations) -> None:
    # Objects and arrays recurse with a path; leaves return a message or None.
    if validator in _COMPOSITE:
        validator(value, path, out)
        return
    message = validator(value)
    if message:
        out[path] = message


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _money_amount(value: Any) -> str | None:
    return None if _is_number(value) and value >= 0 else "must be a non-negative number"


def _currency(value: Any) -> str | None:
    return None if isinstance(value, str) and CURRENCY.match(value) else "must be an ISO-4217 code"


def _quantity(value: Any) -> str | None:
    return None if isinstance(value, int) and not isinstance(value, bool) and value >= 1 else "must be >= 1"


def _not_blank(value: Any) -> str | None:
    return None if isinstance(value, str) and NOT_BLANK.match(value) else "must match ^(?!\\s*$).+"


def _uuid(value: Any) -> str | None:
    return None if isinstance(value, str) and UUID.match(value) else "must be a UUID"


MONEY = obj({"amount": (_money_amount, True), "currency": (_currency, True)})
ADDRESS = obj(
    {
        "line1": (_not_blank, True),
        "line2": (string, False),
        "city": (_not_blank, True),
        "postalCode": (string, False),
        "countryCode": (enum(enums.COUNTRY_CODES), True),
        "state": (string, False),
        "region": (string, False),
        "longitude": (number, False),
        "latitude": (number, False),
    }
)
PARCEL_SHOP = obj(
    {
        "carrier": (enum(enums.CARRIERS), True),
        "countryCode": (enum(enums.COUNTRY_CODES), True),
        "parcelShopId": (_not_blank, True),
    }
)
_DESTINATION = obj(
    {"type": (enum(enums.DESTINATION_TYPES), True), "address": (ADDRESS, False), "parcelShop": (PARCEL_SHOP, False)}
)
LINK = obj({"name": (string, False), "url": (_not_blank, True), "icon": (enum(enums.LINK_ICONS), False)})
PRODUCT = obj(
    {
        "type": (enum(enums.PRODUCT_TYPES), False),
        "sku": (string, False),
        "name": (string, False),
        "description": (string, False),
        "url": (string, False),
        "image": (string, False),
        "price": (MONEY, False),
        "vat": (number, False),
        "quantity": (_quantity, False),
        "referencedSku": (string, False),
    }
)
_PAYMENT_FIELDS: dict[str, Field] = {
    "paid": (lambda v: None if isinstance(v, bool) else "must be a boolean", False),
    "state": (enum(enums.PAYMENT_STATES), False),
    "method": (enum(enums.PAYMENT_METHODS), False),
    "service": (enum(enums.PAYMENT_SERVICES), False),
    "link": (string, False),
    "occurred": (datetime_, False),
}
CUSTOMER = obj({"name": (_not_blank, True), "email": (string, True), "phone": (string, True)})
COST = obj({"type": (enum(enums.ADDITIONAL_COST_TYPES), True), "price": (MONEY, True), "name": (_not_blank, False)})
BILLING = obj(
    {
        "name": (string, False),
        "companyName": (string, False),
        "billingAddress": (ADDRESS, False),
        "crn": (string, False),
        "vatId": (string, False),
        "email": (string, False),
        "phone": (string, False),
    }
)
COMMUNICATION = obj({"orderDetailUrl": (string, False), "externalLinks": (array(LINK), False)})

_ORDER_FIELDS: dict[str, Field] = {
    "eshopId": (_uuid, True),
    "marketId": (_uuid, False),
    "platform": (string, False),
    "externalCreated": (datetime_, False),
    "orderNumber": (string, False),
    "externalIdentifier": (_not_blank, False),
    "price": (MONEY, True),
    "cashOnDelivery": (MONEY, False),
    "additionalCosts": (array(COST), False),
    "payment": (obj(_PAYMENT_FIELDS), False),
    "customer": (CUSTOMER, True),
    "destination": (_DESTINATION, False),
    "products": (array(PRODUCT), False),
    "recommendedProducts": (array(PRODUCT), False),
    "billingDetails": (BILLING, False),
    "language": (enum(enums.LANGUAGES), False),
    "externalLinks": (array(LINK), False),
    "communication": (COMMUNICATION, False),
}
ORDER_REGISTRATION = obj(_ORDER_FIELDS)
# OrderUpdate: the same minus eshopId/marketId/language, nothing required (Foxdeli's PATCH order).
ORDER_UPDATE = obj(
    {k: (v, False) for k, (v, _) in _ORDER_FIELDS.items() if k not in ("eshopId", "marketId", "language")}
)

TRACKING = obj(
    {
        "carrier": (enum(enums.CARRIERS), False),
        "number": (string, False),
        "referenceId": (string, False),
        "carrierConfigurationId": (_uuid, False),
        "additionalParams": (lambda v: None if isinstance(v, dict) else "must be an object", False),
    }
)
PARCEL = obj(
    {
        "externalCreated": (datetime_, False),
        "products": (array(string), False),
        "dimensions": (obj(dict.fromkeys(("weight", "height", "length", "width"), (number, False))), False),
        "deliveryDetails": (lambda v: None if isinstance(v, dict) else "must be an object", False),
        "pin": (string, False),
        "tracking": (array(TRACKING), False),
        "tags": (array(enum(frozenset({"TRACKING_SUSPENDED"}))), False),
    }
)


def _destination_rules(body: dict[str, Any], out: Violations) -> None:
    destination = body.get("destination")
    if not isinstance(destination, dict):
        return
    if destination.get("type") == "HOUSE_ADDRESS" and not destination.get("address"):
        out["destination.address"] = "required for destination type HOUSE_ADDRESS"
    if destination.get("type") in ("PARCEL_SHOP", "PARCEL_BOX") and not destination.get("parcelShop"):
        out["destination.parcelShop"] = "required for destination type PARCEL_SHOP|PARCEL_BOX"


def validate_order(body: Any, *, update: bool = False) -> Violations:
    """Violations of an OrderRegistration (``update=False``) or OrderUpdate body."""
    out: Violations = {}
    (ORDER_UPDATE if update else ORDER_REGISTRATION)(body, "", out)
    if isinstance(body, dict):
        _destination_rules(body, out)
    return out


def validate_parcel(body: Any) -> Violations:
    """Violations of a ParcelRegistration/ParcelUpdate body."""
    out: Violations = {}
    PARCEL(body, "", out)
    for index, tracking in enumerate(body.get("tracking") or [] if isinstance(body, dict) else []):
        if isinstance(tracking, dict) and not (tracking.get("carrier") or tracking.get("carrierConfigurationId")):
            out[f"tracking[{index}]"] = "at least one of carrier or carrierConfigurationId must be filled"
    return out
