"""SQL for the privacy webhooks: data requests, the rows redaction rewrites, shop erasure.

Redaction and erasure run under :func:`secure_delete` so that SQLite overwrites freed cells and
pages with zeros instead of leaving the old bytes in the file; the caller checkpoints the WAL
afterwards (:func:`checkpoint_wal`) so old page images leave the WAL file too. On PostgreSQL
the old row versions are vacuumed instead (what that does and does not erase: docs/deploy.md). What to redact is
decided in :mod:`connector.lifecycle.customer_data`; here are only the reads and writes.
"""

from __future__ import annotations

import json
from contextlib import AbstractContextManager
from typing import Any

from connector.store.db import Db
from connector.store.rows import query_rows
from connector.timeutil import now_db

# Tables holding a shop's data, erased by shop/redact (events keep the shop/redact record; their
# bodies go with them: event_bodies rows are deleted with their event, ON DELETE CASCADE).
SHOP_TABLES = (
    "order_parts",
    "orders",
    "attempts",
    "failures",
    "dry_run_payloads",
    "data_requests",
    "oauth_states",
    "shop_settings",
    "shop_locks",
    "redactions",
)
# Free-text columns that may quote personal data back (a target's error message): table, key
# (unique within a shop), column.
ERROR_TEXT_COLUMNS = (("attempts", "id", "error"), ("failures", "id", "reason"), ("orders", "order_id", "last_error"))


def secure_delete(db: Db) -> AbstractContextManager[None]:
    """What the block deletes or rewrites is overwritten, not left in free pages (SQLite; see
    :meth:`connector.store.dialect.Dialect.secure_delete` for PostgreSQL)."""
    return db.dialect.secure_delete(db)


def checkpoint_wal(db: Db) -> None:
    """After a redaction, outside any transaction: old page images leave the WAL (SQLite);
    dead row versions are vacuumed (PostgreSQL)."""
    db.dialect.after_redaction(db)


# -- customers/data_request ------------------------------------------------------------------
def record_data_request(db: Db, shop: str, body: dict[str, Any]) -> int | None:
    """Keep the request for an operator; a redelivery of the same request is kept once."""
    customer, request = _object(body.get("customer")), _object(body.get("data_request"))
    rows = db.execute(
        "INSERT INTO data_requests (shop, data_request_id, customer_id, email, phone, orders_requested, received_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (shop, data_request_id) DO NOTHING RETURNING id",
        [
            shop,
            _text(request.get("id")),
            _text(customer.get("id")),
            customer.get("email"),
            customer.get("phone"),
            json.dumps([str(i) for i in body.get("orders_requested") or []]),
            now_db(),
        ],
    ).fetchall()
    return int(rows[0][0]) if rows else None


def list_data_requests(db: Db, shop: str | None = None) -> list[dict[str, Any]]:
    where, params = ("WHERE shop = ?", [shop]) if shop else ("", [])
    return query_rows(db, f"SELECT * FROM data_requests {where} ORDER BY id", params)


def get_data_request(db: Db, request_id: int) -> dict[str, Any] | None:
    rows = query_rows(db, "SELECT * FROM data_requests WHERE id = ?", [request_id])
    return rows[0] if rows else None


def mark_data_request_exported(db: Db, request_id: int) -> None:
    db.execute("UPDATE data_requests SET exported_at = ? WHERE id = ?", [now_db(), request_id])


def rows_of_orders(db: Db, shop: str, order_ids: set[str]) -> dict[str, list[dict[str, Any]]]:
    """Sync state, parts, sent payloads (``payload`` decoded) and attempts of some orders of ``shop``."""
    marks = ",".join("?" * len(order_ids))
    by_order = f"shop = ? AND order_id IN ({marks})"
    params = [shop, *sorted(order_ids)]
    payloads = query_rows(db, f"SELECT * FROM dry_run_payloads WHERE {by_order} ORDER BY id", params)
    return {
        "orders": query_rows(db, f"SELECT * FROM orders WHERE {by_order} ORDER BY order_id", params),
        "order_parts": query_rows(db, f"SELECT * FROM order_parts WHERE {by_order} ORDER BY part_id", params),
        "sent_payloads": [{**row, "payload": json.loads(row["payload"])} for row in payloads],
        "attempts": query_rows(db, f"SELECT * FROM attempts WHERE {by_order} ORDER BY id", params),
    }


def _object(value: Any) -> dict[str, Any]:
    """A JSON object of the body, or ``{}`` when the field is missing or not an object."""
    return value if isinstance(value, dict) else {}


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


# -- customers/redact: the rows that may hold personal data ----------------------------------
# Events with their raw bodies (a row of their own since m012_event_bodies).
_WITH_BODIES = "FROM events e JOIN event_bodies b ON b.event_id = e.id"


def shop_events(db: Db, shop: str) -> list[dict[str, Any]]:
    """Every stored event of ``shop`` with its raw body, oldest first."""
    return query_rows(
        db,
        f"SELECT e.id, e.topic, e.order_id, e.state, e.received_at, b.body {_WITH_BODIES} WHERE e.shop = ? ORDER BY e.id",
        [shop],
    )


def events_after(db: Db, shop: str, after_id: int, until_id: int, limit: int) -> list[dict[str, Any]]:
    """The next ``limit`` events of ``shop`` with ``after_id < id <= until_id``, bodies included.

    The ids are chosen first, bodies joined for those alone: with the join in the same query,
    SQLite (through the shop's index) read the body of every remaining event of the shop before
    sorting and cutting to ``limit``, each batch, so a big shop's redaction read its bodies a
    number of times growing with its size."""
    return query_rows(
        db,
        f"SELECT e.id, e.topic, e.order_id, b.body {_WITH_BODIES} WHERE e.id IN ("
        " SELECT id FROM events WHERE shop = ? AND id > ? AND id <= ? ORDER BY id LIMIT ?"
        ") ORDER BY e.id",
        [shop, after_id, until_id, limit],
    )


def order_events(db: Db, shop: str, order_ids: list[str], until_id: int) -> list[dict[str, Any]]:
    """The order-topic events of some orders of ``shop`` (through the events-by-order index)."""
    marks = ", ".join("?" for _ in order_ids)
    return query_rows(
        db,
        f"SELECT e.id, e.topic, e.order_id, b.body {_WITH_BODIES} WHERE e.shop = ? AND e.order_id IN ({marks}) "
        "AND e.id <= ? AND e.topic LIKE 'orders/%' ORDER BY e.id",
        [shop, *order_ids, until_id],
    )


def payloads_after(db: Db, shop: str, after_id: int, limit: int) -> list[dict[str, Any]]:
    return query_rows(
        db,
        "SELECT id, order_id, payload FROM dry_run_payloads WHERE shop = ? AND id > ? ORDER BY id LIMIT ?",
        [shop, after_id, limit],
    )


def error_texts_after(db: Db, shop: str, table: str, after_key: Any, limit: int) -> list[tuple[Any, str]]:
    """``(row key, text)`` of the next error texts of one table of :data:`ERROR_TEXT_COLUMNS`,
    after ``after_key`` (None: from the first). Keys are ids or order ids, compared as stored."""
    key, column = next((k, c) for t, k, c in ERROR_TEXT_COLUMNS if t == table)
    after, params = (f"AND {key} > ? ", [after_key]) if after_key is not None else ("", [])
    rows = db.execute(
        f"SELECT {key}, {column} FROM {table} WHERE shop = ? {after}AND {column} IS NOT NULL ORDER BY {key} LIMIT ?",
        [shop, *params, limit],
    )
    return [(row_key, text) for row_key, text in rows.fetchall()]


def last_event_id(db: Db, shop: str) -> int:
    row = db.execute("SELECT max(id) FROM events WHERE shop = ?", [shop]).fetchone()
    return int(row[0] or 0)


# -- customers/redact progress (one row per request under way) --------------------------------
def create_redaction(db: Db, event_id: int, shop: str, until_id: int, phase: str, state: str) -> None:
    """Record a request to honour; a second triage of the same event keeps the first. Self-contained."""
    now = now_db()
    db.execute(
        "INSERT INTO redactions (event_id, shop, phase, cursor, until_id, state, created_at, updated_at) "
        "VALUES (?, ?, ?, 0, ?, ?, ?, ?) ON CONFLICT (event_id) DO NOTHING",
        [event_id, shop, phase, until_id, state, now, now],
    )


def claim_redaction(db: Db, owner: str, lease_until: str) -> dict[str, Any] | None:
    """Lease the oldest redaction that is free (or ours already); None when there is none.
    Write-then-read: one UPDATE decides, so two workers never both win. Self-contained.

    A read comes first: the worker asks on every pass, and almost always there is none. The
    UPDATE alone took SQLite's write lock even when it changed nothing; the delivery threads'
    commits then slept in the busy handler (1.2 ms per pass, bench/deliver.py)."""
    now = now_db()
    free = "lease_owner IS NULL OR lease_owner = ? OR lease_until < ?"
    if db.execute(f"SELECT 1 FROM redactions WHERE {free} LIMIT 1", [owner, now]).fetchone() is None:
        return None
    db.execute(
        f"UPDATE redactions SET lease_owner = ?, lease_until = ? WHERE event_id = ("
        f" SELECT event_id FROM redactions WHERE {free} ORDER BY event_id LIMIT 1"
        f") AND ({free})",
        [owner, lease_until, owner, now, owner, now],
    )
    rows = query_rows(db, "SELECT * FROM redactions WHERE lease_owner = ? ORDER BY event_id LIMIT 1", [owner])
    return rows[0] if rows else None


def save_redaction(db: Db, event_id: int, owner: str, phase: str, cursor: int, state: str, lease_until: str) -> bool:
    """Record progress while we still hold the lease; False when we lost it (or the row is gone)."""
    updated = db.execute(
        "UPDATE redactions SET phase = ?, cursor = ?, state = ?, lease_until = ?, updated_at = ? "
        "WHERE event_id = ? AND lease_owner = ?",
        [phase, cursor, state, lease_until, now_db(), event_id, owner],
    )
    return updated.rowcount == 1


def delete_redaction(db: Db, event_id: int, owner: str) -> bool:
    return db.execute("DELETE FROM redactions WHERE event_id = ? AND lease_owner = ?", [event_id, owner]).rowcount == 1


def set_event_body(db: Db, event_id: int, body: bytes) -> None:
    db.execute("UPDATE event_bodies SET body = ? WHERE event_id = ?", [body, event_id])


def shop_payloads(db: Db, shop: str) -> list[dict[str, Any]]:
    """Every recorded payload of ``shop``: id, order_id and the payload as JSON text."""
    return query_rows(db, "SELECT id, order_id, payload FROM dry_run_payloads WHERE shop = ?", [shop])


def set_payload(db: Db, payload_id: int, payload_json: str) -> None:
    db.execute("UPDATE dry_run_payloads SET payload = ? WHERE id = ?", [payload_json, payload_id])


def error_texts(db: Db, shop: str) -> list[tuple[str, int | str, str]]:
    """``(table, row key, text)`` of every error text of ``shop`` (see :data:`ERROR_TEXT_COLUMNS`)."""
    found = []
    for table, key, column in ERROR_TEXT_COLUMNS:
        rows = db.execute(f"SELECT {key}, {column} FROM {table} WHERE shop = ? AND {column} IS NOT NULL", [shop])
        found += [(table, row_key, text) for row_key, text in rows.fetchall()]
    return found


def set_error_text(db: Db, shop: str, table: str, row_key: int | str, text: str | None) -> None:
    key, column = next((k, c) for t, k, c in ERROR_TEXT_COLUMNS if t == table)
    db.execute(f"UPDATE {table} SET {column} = ? WHERE shop = ? AND {key} = ?", [text, shop, row_key])


def forget_request_contact(db: Db, shop: str, customer_id: str | None, emails: set[str]) -> None:
    """Blank email and phone of the customer's data requests (by id or email); mark them redacted."""
    by_email = f" OR lower(email) IN ({', '.join('?' for _ in emails)})" if emails else ""
    db.execute(
        f"UPDATE data_requests SET email = NULL, phone = NULL, redacted_at = ? WHERE shop = ? AND (customer_id = ?{by_email})",
        [now_db(), shop, customer_id, *sorted(emails)],
    )


# -- shop/redact -----------------------------------------------------------------------------
ERASE_BATCH = 500  # events per DELETE: each commits on its own, the write lock stays short


def delete_shop_events_batch(db: Db, shop: str, batch: int = ERASE_BATCH) -> int:
    """Delete up to ``batch`` of the shop's events (not its shop/redact ones). Self-contained."""
    cursor = db.execute(
        "DELETE FROM events WHERE id IN (SELECT id FROM events WHERE shop = ? AND topic != 'shop/redact' LIMIT ?)",
        [shop, batch],
    )
    return cursor.rowcount


def erase_shop(db: Db, shop: str) -> dict[str, int]:
    """Delete everything held for ``shop``. The shop row goes too unless the shop is installed
    again (Shopify does not send shop/redact after a reinstall; if one arrives anyway, the new
    installation's token is kept but the old data still goes). Inside ``write_transaction``."""
    counts: dict[str, int] = {}
    with secure_delete(db):
        cursor = db.execute("DELETE FROM events WHERE shop = ? AND topic != 'shop/redact'", [shop])
        counts["events"] = cursor.rowcount
        for table in SHOP_TABLES:
            counts[table] = db.execute(f"DELETE FROM {table} WHERE shop = ?", [shop]).rowcount
        counts["shops"] = db.execute("DELETE FROM shops WHERE shop = ? AND uninstalled_at IS NOT NULL", [shop]).rowcount
    return counts
