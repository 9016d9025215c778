"""One customer's data across a shop's stored rows: found for an export, redacted on request.

The privacy webhooks (https://shopify.dev/docs/apps/build/compliance/privacy-law-compliance):
``customers/data_request`` is answered with :func:`collect_customer_data`; ``customers/redact``
is honoured step by step by :mod:`.customer_redaction` with the row-level helpers here. What
counts as personal is decided in :mod:`.redaction` (pure); the rows come from and go back to
:mod:`connector.store.privacy`.
"""

from __future__ import annotations

import json
from typing import Any

from connector.jsonshape import nesting_depth
from connector.lifecycle.redaction import Identifiers, mentions, order_id_of, redact_document, scrub_text
from connector.store import privacy as privacy_store
from connector.store.db import Db

REDACTED_RAW_BODY = b'{"redacted": true}'
# The walkers of .redaction recurse about twice per level; Python allows ~1000 frames.
MAX_WALK_DEPTH = 100
Event = tuple[dict[str, Any], Any]  # (stored row, parsed body or None when it is not JSON)


def collect_customer_data(db: Db, request: dict[str, Any]) -> dict[str, Any]:
    """Everything held about the request's customer: sync state, events, what was sent."""
    ids = Identifiers(customer_id=request["customer_id"])
    ids.add_email(request["email"])
    ids.add_phone(request["phone"])
    shop = request["shop"]
    order_ids, events = _match_events(_load(db, shop), ids, set(json.loads(request["orders_requested"])))
    held = privacy_store.rows_of_orders(db, shop, order_ids)
    return {
        "request": {
            k: request[k] for k in ("id", "shop", "data_request_id", "customer_id", "email", "phone", "received_at")
        },
        "orders": held["orders"],
        "order_parts": held["order_parts"],
        "events": [
            {"id": r["id"], "topic": r["topic"], "received_at": r["received_at"], "state": r["state"], "body": doc}
            for r, doc in events
        ],
        "sent_payloads": held["sent_payloads"],
        "attempts": held["attempts"],
    }


def parse_stored(raw: bytes) -> Any:
    """A stored body as JSON the walkers of :mod:`.redaction` can take, or None (not JSON, or too
    deep for them: such a body is matched and blanked as raw bytes)."""
    try:
        doc = json.loads(bytes(raw).decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None
    return doc if nesting_depth(doc, MAX_WALK_DEPTH) <= MAX_WALK_DEPTH else None


def _load(db: Db, shop: str) -> list[Event]:
    return [(row, parse_stored(row["body"])) for row in privacy_store.shop_events(db, shop)]


def event_order(row: dict[str, Any], doc: Any) -> str | None:
    """The order a stored event is about (set by triage, else read from the body)."""
    return row["order_id"] or order_id_of(row["topic"], doc)


def is_customers_event(row: dict[str, Any], doc: Any, ids: Identifiers, orders: set[str]) -> bool:
    """Whether a stored event belongs to the customer: about one of their orders, naming them,
    or (not JSON) holding one of their emails."""
    oid = event_order(row, doc)
    if oid and oid in orders:
        return True
    if doc is not None:
        return mentions(doc, ids)
    raw = bytes(row["body"]).lower()
    return any(needle in raw for needle in ids.raw_needles())


def _match_events(events: list[Event], ids: Identifiers, order_ids: set[str]) -> tuple[set[str], list[Event]]:
    """The customer's orders (listed, or naming the customer) and every event about them.

    The orders' own emails/phones join the identifiers, so a fulfillment that carries only the
    order's email is found too.
    """
    orders = set(order_ids)
    for row, doc in events:
        oid = event_order(row, doc)
        if oid and mentions(doc, ids):
            orders.add(oid)
    for row, doc in events:
        if event_order(row, doc) in orders and row["topic"].startswith("orders/"):
            ids.add_from_order(doc)
    return orders, [(row, doc) for row, doc in events if is_customers_event(row, doc, ids, orders)]


def redacted_body(row: dict[str, Any], doc: Any, ids: Identifiers, removed: set[str]) -> bytes | None:
    """The event's body without personal data (adding what it took out to ``removed``), or None
    when nothing changes."""
    if doc is None:
        new_body = REDACTED_RAW_BODY
    else:
        clean, gone = redact_document(doc, ids)
        removed |= gone
        new_body = json.dumps(clean, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return None if new_body == bytes(row["body"]) else new_body


def redacted_payload(row: dict[str, Any], orders: set[str], ids: Identifiers, removed: set[str]) -> str | None:
    """A recorded payload without the customer's data, or None when it is not theirs / unchanged."""
    doc = json.loads(row["payload"])
    if row["order_id"] not in orders and not mentions(doc, ids):
        return None
    clean, _ = redact_document(doc, ids, known_values=removed)
    text = json.dumps(clean, ensure_ascii=False)
    return None if text == row["payload"] else text


def scrubbed_text(text: str | None, ids: Identifiers, removed: set[str]) -> str | None:
    """An error text without the removed values and the customer's emails, or None when unchanged."""
    clean = scrub_text(text, removed, ids)
    return None if clean == text else clean
