"""One customer's data across a shop's stored rows: found for an export, redacted on request.

The privacy webhooks (https://shopify.dev/docs/apps/build/compliance/privacy-law-compliance):
``customers/data_request`` is answered with :func:`collect_customer_data`, ``customers/redact``
runs :func:`redact_customer`. What counts as personal is decided in :mod:`.redaction` (pure);
the rows come from and go back to :mod:`connector.store.privacy`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, TYPE_CHECKING

from connector.lifecycle.redaction import Identifiers, mentions, order_id_of, redact_document, scrub_text
from connector.store import privacy as privacy_store

if TYPE_CHECKING:  # only store/ and migrations import sqlite-utils at run time
    import sqlite_utils

REDACTED_RAW_BODY = b'{"redacted": true}'
Event = tuple[dict[str, Any], Any]  # (stored row, parsed body or None when it is not JSON)


@dataclass
class RedactionReport:
    orders: set[str] = field(default_factory=set)
    events: int = 0
    payloads: int = 0
    texts: int = 0

    def summary(self) -> str:
        return (f"redacted {self.events} events, {self.payloads} sent payloads and {self.texts} error texts "
                f"of {len(self.orders)} orders")


def collect_customer_data(db: sqlite_utils.Database, request: dict[str, Any]) -> dict[str, Any]:
    """Everything held about the request's customer: sync state, events, what was sent."""
    ids = Identifiers(customer_id=request["customer_id"])
    ids.add_email(request["email"])
    ids.add_phone(request["phone"])
    shop = request["shop"]
    order_ids, events = _match_events(_load(db, shop), ids, set(json.loads(request["orders_requested"])))
    held = privacy_store.rows_of_orders(db, shop, order_ids)
    return {
        "request": {k: request[k] for k in ("id", "shop", "data_request_id", "customer_id", "email", "phone", "received_at")},
        "orders": held["orders"],
        "order_parts": held["order_parts"],
        "events": [
            {"id": r["id"], "topic": r["topic"], "received_at": r["received_at"], "state": r["state"], "body": doc}
            for r, doc in events
        ],
        "sent_payloads": held["sent_payloads"],
        "attempts": held["attempts"],
    }


def _load(db: sqlite_utils.Database, shop: str) -> list[Event]:
    out = []
    for row in privacy_store.shop_events(db, shop):
        try:
            doc = json.loads(bytes(row["body"]).decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError):
            doc = None
        out.append((row, doc))
    return out


def _match_events(events: list[Event], ids: Identifiers, order_ids: set[str]) -> tuple[set[str], list[Event]]:
    """The customer's orders (listed, or naming the customer) and every event about them.

    The orders' own emails/phones join the identifiers, so a fulfillment that carries only the
    order's email is found too.
    """
    orders = set(order_ids)
    for row, doc in events:
        oid = row["order_id"] or order_id_of(row["topic"], doc)
        if oid and mentions(doc, ids):
            orders.add(oid)
    for row, doc in events:
        if (row["order_id"] or order_id_of(row["topic"], doc)) in orders and row["topic"].startswith("orders/"):
            ids.add_from_order(doc)
    matched = []
    for row, doc in events:
        oid = row["order_id"] or order_id_of(row["topic"], doc)
        raw = bytes(row["body"]).lower()
        if (oid and oid in orders) or (doc is not None and mentions(doc, ids)) or (
            doc is None and any(n in raw for n in ids.raw_needles())
        ):
            matched.append((row, doc))
    return orders, matched


def redact_customer(db: sqlite_utils.Database, shop: str, ids: Identifiers, order_ids: set[str]) -> RedactionReport:
    """Remove one customer's personal data from every stored row of ``shop``; keep ids and states.

    Inside ``write_transaction`` (the worker's triage holds one).
    """
    report = RedactionReport()
    with privacy_store.secure_delete(db):
        report.orders, matched = _match_events(_load(db, shop), ids, order_ids)
        removed: set[str] = set()
        for row, doc in matched:
            report.events += _redact_event(db, row, doc, ids, removed)
        report.payloads = _redact_payloads(db, shop, report.orders, ids, removed)
        report.texts = _scrub_texts(db, shop, ids, removed)
        privacy_store.forget_request_contact(db, shop, ids.customer_id, ids.emails)
    return report


def _redact_event(db: sqlite_utils.Database, row: dict[str, Any], doc: Any, ids: Identifiers, removed: set[str]) -> int:
    """Rewrite one event's body without personal data (adding what it took out to ``removed``)."""
    if doc is None:
        new_body = REDACTED_RAW_BODY
    else:
        clean, gone = redact_document(doc, ids)
        removed |= gone
        new_body = json.dumps(clean, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    if new_body == bytes(row["body"]):
        return 0
    privacy_store.set_event_body(db, row["id"], new_body)
    return 1


def _redact_payloads(db: sqlite_utils.Database, shop: str, orders: set[str], ids: Identifiers, removed: set[str]) -> int:
    count = 0
    for row in privacy_store.shop_payloads(db, shop):
        doc = json.loads(row["payload"])
        if row["order_id"] not in orders and not mentions(doc, ids):
            continue
        clean, _ = redact_document(doc, ids, known_values=removed)
        text = json.dumps(clean, ensure_ascii=False)
        if text != row["payload"]:
            privacy_store.set_payload(db, row["id"], text)
            count += 1
    return count


def _scrub_texts(db: sqlite_utils.Database, shop: str, ids: Identifiers, removed: set[str]) -> int:
    """Error texts may quote what a target refused (an email, an address)."""
    count = 0
    for table, row_key, text in privacy_store.error_texts(db, shop):
        clean = scrub_text(text, removed, ids)
        if clean != text:
            privacy_store.set_error_text(db, shop, table, row_key, clean)
            count += 1
    return count
