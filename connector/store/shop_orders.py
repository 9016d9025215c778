"""One shop's orders as its merchant sees them: the list (keyset-paged), counts, the last delivery.

Every function takes the shop and reads or changes that shop's rows only. The list is ordered
newest placed first and paged by ``(placed_at, order_id)`` — an index range
(``orders_placed``/``orders_status_placed``), as fast on page 2,000 as on page 1.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from connector.models import EventState, SyncStatus
from connector.store.db import Db
from connector.store.rows import query_rows, update_in_key_order
from connector.timeutil import now_db

LIST_COLUMNS = (
    "order_id, name, order_number, status, placed_at, newest_updated_at, last_synced_at, last_error, attempts"
)


def list_shop_orders(
    db: Db,
    shop: str,
    statuses: Sequence[str] = (),
    after: tuple[str, str] | None = None,
    limit: int = 50,
) -> list[dict[str, Any]]:
    """Up to ``limit`` orders of ``shop`` (of ``statuses``, when given), after the cursor."""
    clauses, params = ["shop = ?"], [shop]
    if statuses:
        clauses.append(f"status IN ({', '.join('?' for _ in statuses)})")
        params += list(statuses)
    if after:
        # A row value, which SQLite and PostgreSQL both turn into one index range; the spelled-out
        # OR form makes SQLite scan from the first page down to the cursor.
        clauses.append("(placed_at, order_id) < (?, ?)")
        params += [after[0], after[1]]
    return query_rows(
        db,
        f"SELECT {LIST_COLUMNS} FROM orders WHERE {' AND '.join(clauses)} "
        "ORDER BY placed_at DESC, order_id DESC LIMIT ?",
        [*params, limit],
    )


def find_shop_orders(db: Db, shop: str, name: str, number: str | None, limit: int = 50) -> list[dict[str, Any]]:
    """Orders of ``shop`` named ``name`` (as Shopify shows it), or with that number or order id."""
    return query_rows(
        db,
        f"SELECT {LIST_COLUMNS} FROM orders WHERE shop = ? AND (name = ? OR order_number = ? OR order_id = ?) "
        "ORDER BY placed_at DESC, order_id DESC LIMIT ?",
        [shop, name, number or name, number or name, limit],
    )


def count_shop_orders(db: Db, shop: str) -> dict[str, int]:
    rows = query_rows(db, "SELECT status, count(*) AS n FROM orders WHERE shop = ? GROUP BY status", [shop])
    return {row["status"]: row["n"] for row in rows}


def count_synced_since(db: Db, shop: str, since: str) -> int:
    """Orders of ``shop`` delivered (last) since ``since`` (store time form)."""
    return int(
        db.execute("SELECT count(*) FROM orders WHERE shop = ? AND last_synced_at >= ?", [shop, since]).fetchone()[0]
    )


def last_delivered_order(db: Db, shop: str) -> dict[str, Any] | None:
    rows = query_rows(
        db,
        "SELECT order_id, name, last_synced_at FROM orders WHERE shop = ? AND last_synced_at IS NOT NULL "
        "ORDER BY last_synced_at DESC LIMIT 1",
        [shop],
    )
    return rows[0] if rows else None


def oldest_waiting_event(db: Db, shop: str) -> str | None:
    """When the oldest event of ``shop`` that still waits (for triage, delivery or an account)
    was received."""
    moments = [
        db.execute(
            f"SELECT min(received_at) FROM events WHERE shop = ? AND state IN ('{EventState.QUEUED}', '{EventState.HELD}')",
            [shop],
        ).fetchone()[0],
        db.execute(
            f"SELECT min(received_at) FROM events WHERE state = '{EventState.NEW}' AND shop = ?", [shop]
        ).fetchone()[0],
    ]
    found = [m for m in moments if m]
    return min(found) if found else None


def has_synced_orders(db: Db, shop: str) -> bool:
    return (
        db.execute("SELECT 1 FROM orders WHERE shop = ? AND last_synced_at IS NOT NULL LIMIT 1", [shop]).fetchone()
        is not None
    )


def retry_now(db: Db, shop: str, order_id: str | None = None) -> int:
    """Make the shop's retrying orders (or one of them) due now, their backoff forgotten."""
    where, params = "shop = ? AND status = ?", [shop, SyncStatus.RETRYING]
    if order_id:
        where, params = where + " AND order_id = ?", [*params, order_id]
    return update_in_key_order(db, "orders", "shop, order_id", "next_attempt_at = ?", where, [now_db()], params)
