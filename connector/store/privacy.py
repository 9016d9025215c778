"""SQL for the privacy webhooks: data requests, customer redaction, shop erasure.

Redaction and erasure run with ``PRAGMA secure_delete = ON`` so that SQLite overwrites the
freed cells and pages with zeros instead of leaving the old bytes in the file; the caller
checkpoints the WAL afterwards (:func:`checkpoint_wal`) so old page images leave the WAL file too.
Call the redact/erase functions inside a write transaction (the worker's triage holds one).
"""

from __future__ import annotations

import json
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Iterator

import sqlite_utils

from connector.store.rows import query_rows

from connector.lifecycle.redaction import Identifiers, mentions, order_id_of, redact_document, scrub_text
from connector.timeutil import now_db

REDACTED_RAW_BODY = b'{"redacted": true}'
# Tables holding a shop's data, erased by shop/redact (events keep the shop/redact record).
SHOP_TABLES = ("order_parts", "orders", "attempts", "failures", "dry_run_payloads", "data_requests", "oauth_states")


@contextmanager
def secure_delete(db: sqlite_utils.Database) -> Iterator[None]:
    previous = db.execute("PRAGMA secure_delete").fetchone()[0]
    db.execute("PRAGMA secure_delete = ON")
    try:
        yield
    finally:
        db.execute(f"PRAGMA secure_delete = {int(previous)}")


def checkpoint_wal(db: sqlite_utils.Database) -> None:
    """Copy the WAL into the database file and truncate it (outside any transaction)."""
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()


# -- customers/data_request ------------------------------------------------------------------
def record_data_request(db: sqlite_utils.Database, shop: str, body: dict[str, Any]) -> int | None:
    """Keep the request for an operator; a redelivery of the same request is kept once."""
    customer = body.get("customer") if isinstance(body.get("customer"), dict) else {}
    request = body.get("data_request") if isinstance(body.get("data_request"), dict) else {}
    cursor = db.execute(
        "INSERT INTO data_requests (shop, data_request_id, customer_id, email, phone, orders_requested, received_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (shop, data_request_id) DO NOTHING",
        [
            shop, _text(request.get("id")), _text(customer.get("id")), customer.get("email"),
            customer.get("phone"), json.dumps([str(i) for i in body.get("orders_requested") or []]), now_db(),
        ],
    )
    return cursor.lastrowid if cursor.rowcount == 1 else None


def list_data_requests(db: sqlite_utils.Database, shop: str | None = None) -> list[dict[str, Any]]:
    where, params = ("WHERE shop = ?", [shop]) if shop else ("", [])
    return query_rows(db, f"SELECT * FROM data_requests {where} ORDER BY id", params)


def get_data_request(db: sqlite_utils.Database, request_id: int) -> dict[str, Any] | None:
    rows = query_rows(db, "SELECT * FROM data_requests WHERE id = ?", [request_id])
    return rows[0] if rows else None


def mark_data_request_exported(db: sqlite_utils.Database, request_id: int) -> None:
    db.execute("UPDATE data_requests SET exported_at = ? WHERE id = ?", [now_db(), request_id])


def collect_customer_data(db: sqlite_utils.Database, request: dict[str, Any]) -> dict[str, Any]:
    """Everything held about the request's customer: sync state, events, what was sent."""
    ids = Identifiers(customer_id=request["customer_id"])
    ids.add_email(request["email"])
    ids.add_phone(request["phone"])
    shop = request["shop"]
    order_ids, events = _match_events(db, shop, ids, set(json.loads(request["orders_requested"])))
    marks = ",".join("?" * len(order_ids))
    by_order = f"shop = ? AND order_id IN ({marks})"
    params = [shop, *sorted(order_ids)]
    return {
        "request": {k: request[k] for k in ("id", "shop", "data_request_id", "customer_id", "email", "phone", "received_at")},
        "orders": query_rows(db, f"SELECT * FROM orders WHERE {by_order} ORDER BY order_id", params),
        "order_parts": query_rows(db, f"SELECT * FROM order_parts WHERE {by_order} ORDER BY part_id", params),
        "events": [
            {"id": r["id"], "topic": r["topic"], "received_at": r["received_at"], "state": r["state"], "body": doc}
            for r, doc in events
        ],
        "sent_payloads": [
            {**r, "payload": json.loads(r["payload"])}
            for r in query_rows(db, f"SELECT * FROM dry_run_payloads WHERE {by_order} ORDER BY id", params)
        ],
        "attempts": query_rows(db, f"SELECT * FROM attempts WHERE {by_order} ORDER BY id", params),
    }


# -- customers/redact ------------------------------------------------------------------------
@dataclass
class RedactionReport:
    orders: set[str] = field(default_factory=set)
    events: int = 0
    payloads: int = 0
    texts: int = 0

    def summary(self) -> str:
        return (f"redacted {self.events} events, {self.payloads} sent payloads and {self.texts} error texts "
                f"of {len(self.orders)} orders")


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _load(db: sqlite_utils.Database, shop: str) -> list[tuple[dict[str, Any], Any]]:
    rows = query_rows(
        db,
        "SELECT id, topic, order_id, state, received_at, body FROM events WHERE shop = ? ORDER BY id", [shop]
    )
    out = []
    for row in rows:
        try:
            doc = json.loads(bytes(row["body"]).decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError):
            doc = None
        out.append((row, doc))
    return out


def _match_events(
    db: sqlite_utils.Database, shop: str, ids: Identifiers, order_ids: set[str]
) -> tuple[set[str], list[tuple[dict[str, Any], Any]]]:
    """The customer's orders (listed, or naming the customer) and every event about them.

    The orders' own emails/phones join the identifiers, so a fulfillment that carries only the
    order's email is found too.
    """
    events = _load(db, shop)
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
    """Remove one customer's personal data from every stored row of ``shop``; keep ids and states."""
    report = RedactionReport()
    with secure_delete(db):
        orders, matched = _match_events(db, shop, ids, order_ids)
        report.orders = orders
        removed: set[str] = set()
        for row, doc in matched:
            if doc is None:
                new_body = REDACTED_RAW_BODY
            else:
                clean, gone = redact_document(doc, ids)
                removed |= gone
                new_body = json.dumps(clean, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
            if new_body != bytes(row["body"]):
                db.execute("UPDATE events SET body = ? WHERE id = ?", [new_body, row["id"]])
                report.events += 1
        report.payloads = _redact_payloads(db, shop, orders, ids, removed)
        report.texts = _scrub_texts(db, shop, ids, removed)
        db.execute(
            "UPDATE data_requests SET email = NULL, phone = NULL, redacted_at = ? WHERE shop = ? AND ("
            "customer_id = ? OR lower(email) IN (SELECT value FROM json_each(?)))",
            [now_db(), shop, ids.customer_id, json.dumps(sorted(ids.emails))],
        )
    return report


def _redact_payloads(db: sqlite_utils.Database, shop: str, orders: set[str], ids: Identifiers, removed: set[str]) -> int:
    count = 0
    for row in query_rows(db, "SELECT id, order_id, payload FROM dry_run_payloads WHERE shop = ?", [shop]):
        doc = json.loads(row["payload"])
        if row["order_id"] not in orders and not mentions(doc, ids):
            continue
        clean, _ = redact_document(doc, ids, known_values=removed)
        text = json.dumps(clean, ensure_ascii=False)
        if text != row["payload"]:
            db.execute("UPDATE dry_run_payloads SET payload = ? WHERE id = ?", [text, row["id"]])
            count += 1
    return count


def _scrub_texts(db: sqlite_utils.Database, shop: str, ids: Identifiers, removed: set[str]) -> int:
    """Error texts may quote what a target refused (an email, an address)."""
    count = 0
    for table, key, column in (("attempts", "id", "error"), ("failures", "id", "reason"), ("orders", "rowid", "last_error")):
        for row_key, text in db.execute(
            f"SELECT {key}, {column} FROM {table} WHERE shop = ? AND {column} IS NOT NULL", [shop]
        ).fetchall():
            clean = scrub_text(text, removed, ids)
            if clean != text:
                db.execute(f"UPDATE {table} SET {column} = ? WHERE {key} = ?", [clean, row_key])
                count += 1
    return count


# -- shop/redact -----------------------------------------------------------------------------
def erase_shop(db: sqlite_utils.Database, shop: str) -> dict[str, int]:
    """Delete everything held for ``shop``. The shop row goes too unless the shop is installed
    again (Shopify does not send shop/redact after a reinstall; if one arrives anyway, the new
    installation's token is kept but the old data still goes)."""
    counts: dict[str, int] = {}
    with secure_delete(db):
        cursor = db.execute("DELETE FROM events WHERE shop = ? AND topic != 'shop/redact'", [shop])
        counts["events"] = cursor.rowcount
        for table in SHOP_TABLES:
            counts[table] = db.execute(f"DELETE FROM {table} WHERE shop = ?", [shop]).rowcount
        counts["shops"] = db.execute(
            "DELETE FROM shops WHERE shop = ? AND uninstalled_at IS NOT NULL", [shop]
        ).rowcount
    return counts
