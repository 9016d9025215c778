"""Pure redaction of stored Shopify JSON: find a customer's data, blank the personal fields.

Used by the privacy webhooks (``customers/redact``, ``customers/data_request``,
https://shopify.dev/docs/apps/build/compliance/privacy-law-compliance). What goes: names,
emails, phones, addresses, IPs, notes and free-text properties. What stays: ids,
``updated_at``, totals, line items (minus their personal ``properties``), tracking numbers —
what idempotent delivery needs. A redacted body is still a JSON object of the same shape.
No I/O here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from connector.shopify.ids import shopify_id

# Whole sub-objects that describe a person or their device: replaced by null.
NULL_OBJECT_KEYS = frozenset(
    {
        "billing_address",
        "shipping_address",
        "default_address",
        "destination",
        "destination_location",
        "client_details",
        "payment_details",
        "receipt",
        "customer_address",
    }
)
# Lists of personal entries: emptied.
EMPTY_LIST_KEYS = frozenset({"addresses", "note_attributes", "properties"})
# Personal scalars wherever they appear (an address inside an unknown key, a shipping line...).
NULL_SCALAR_KEYS = frozenset(
    {
        "email",
        "contact_email",
        "phone",
        "first_name",
        "last_name",
        "company",
        "address1",
        "address2",
        "zip",
        "city",
        "latitude",
        "longitude",
        "browser_ip",
        "ip_address",
        "note",
        "landing_site",
        "referring_site",
        "user_agent",
    }
)
CUSTOMER_KEEP = ("id", "admin_graphql_api_id")
MIN_VALUE_LEN = 3  # shorter removed values ("NY", "1") are not worth scrubbing from free text
REDACTED = "[redacted]"


def _digits(value: str) -> str:
    return re.sub(r"\D", "", value)


@dataclass
class Identifiers:
    """What identifies one customer: Shopify id, emails (case-folded), phones (digits only)."""

    customer_id: str | None = None
    emails: set[str] = field(default_factory=set)
    phones: set[str] = field(default_factory=set)

    @classmethod
    def from_request(cls, body: Any) -> Identifiers:
        """From a ``customers/redact`` or ``customers/data_request`` body."""
        customer = body.get("customer") if isinstance(body, dict) else None
        ids = cls(customer_id=shopify_id(customer.get("id")) if isinstance(customer, dict) else None)
        if isinstance(customer, dict):
            ids.add_email(customer.get("email"))
            ids.add_phone(customer.get("phone"))
        return ids

    def add_email(self, value: Any) -> None:
        if isinstance(value, str) and "@" in value:
            self.emails.add(value.strip().casefold())

    def add_phone(self, value: Any) -> None:
        if isinstance(value, str) and len(_digits(value)) >= 6:
            self.phones.add(_digits(value))

    def add_from_order(self, order: Any) -> None:
        """An order of this customer adds the contact details it was placed with."""
        if not isinstance(order, dict):
            return
        for key in ("email", "contact_email"):
            self.add_email(order.get(key))
        self.add_phone(order.get("phone"))
        customer = order.get("customer")
        if isinstance(customer, dict):
            self.add_email(customer.get("email"))
            self.add_phone(customer.get("phone"))

    def matches_string(self, value: str) -> bool:
        folded = value.strip().casefold()
        if folded in self.emails or any(e in folded for e in self.emails):
            return True
        digits = _digits(value)
        return len(digits) >= 6 and digits in self.phones

    def raw_needles(self) -> list[bytes]:
        """Byte strings to look for in bodies that are not JSON."""
        return [e.encode("utf-8") for e in self.emails]


def order_id_of(topic: str, doc: Any) -> str | None:
    """The Shopify order an event body is about (order topics: ``id``; parts: ``order_id``)."""
    if not isinstance(doc, dict):
        return None
    if topic.startswith("orders/"):
        return shopify_id(doc.get("id"))
    if topic.startswith(("fulfillments/", "refunds/")):
        return shopify_id(doc.get("order_id"))
    return None


def mentions(doc: Any, ids: Identifiers) -> bool:
    """True when the document names the customer: by id under ``customer``/``customer_id``,
    or by one of their emails or phones anywhere."""
    if isinstance(doc, dict):
        for key, value in doc.items():
            if (
                ids.customer_id
                and key == "customer"
                and isinstance(value, dict)
                and shopify_id(value.get("id")) == ids.customer_id
            ):
                return True
            if ids.customer_id and key == "customer_id" and shopify_id(value) == ids.customer_id:
                return True
            if mentions(value, ids):
                return True
        return False
    if isinstance(doc, list):
        return any(mentions(item, ids) for item in doc)
    return isinstance(doc, str) and ids.matches_string(doc)


# Under these keys a string is personal; removed values are remembered to scrub copies elsewhere.
PERSONAL_VALUE_KEYS = NULL_SCALAR_KEYS | {"name", "value"}


def _collect(value: Any, removed: set[str], key: str | None = None) -> None:
    if isinstance(value, dict):
        for k, item in value.items():
            _collect(item, removed, k)
    elif isinstance(value, list):
        for item in value:
            _collect(item, removed, key)
    elif isinstance(value, str) and key in PERSONAL_VALUE_KEYS and len(value.strip()) >= MIN_VALUE_LEN:
        removed.add(value.strip())


def redact_document(doc: Any, ids: Identifiers, known_values: set[str] | None = None) -> tuple[Any, set[str]]:
    """A copy of ``doc`` without personal data, and the set of string values taken out.

    ``known_values`` (values removed elsewhere, e.g. from the order body) also blank any string
    that contains one of them — for mapped payloads whose keys we do not know.
    """
    removed: set[str] = set()
    needles = sorted((v for v in (known_values or set()) if len(v) >= 5), key=len, reverse=True)

    def walk(value: Any, key: str | None) -> Any:
        if key in NULL_OBJECT_KEYS and value not in (None, {}, []):
            _collect(value, removed)
            return None
        if key in EMPTY_LIST_KEYS and isinstance(value, list):
            _collect(value, removed)
            return []
        if key == "customer" and isinstance(value, dict):
            _collect({k: v for k, v in value.items() if k not in CUSTOMER_KEEP}, removed)
            return {k: value[k] for k in CUSTOMER_KEEP if k in value}
        if isinstance(value, dict):
            return {k: walk(v, k) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(item, key) for item in value]
        if isinstance(value, str):
            if (
                key in NULL_SCALAR_KEYS
                or ids.matches_string(value)
                or value.strip() in (known_values or ())
                or any(n in value for n in needles)
            ):
                if len(value.strip()) >= MIN_VALUE_LEN:
                    removed.add(value.strip())
                return None
        elif key in NULL_SCALAR_KEYS and isinstance(value, (int, float)) and not isinstance(value, bool):
            return None  # latitude/longitude
        return value

    return walk(doc, None), removed


def scrub_text(text: str | None, values: set[str], ids: Identifiers) -> str | None:
    """Free text (an error message) with the removed values and the customer's emails replaced."""
    if not text:
        return text
    for value in sorted((v for v in values | ids.emails if len(v) >= MIN_VALUE_LEN), key=len, reverse=True):
        text = re.sub(re.escape(value), REDACTED, text, flags=re.IGNORECASE)
    return text
