"""Orders known only by their fulfillments or refunds: the order's own webhook never came.

Shopify does not promise webhooks in order, and can lose one for good (retries used up, a
removed subscription). A part cannot be delivered without its order (Foxdeli needs the order
for a parcel, parcelLab its name and address), so its delivery waits (``WaitingError``). Here
is what that wait needs: when it began (``order_missing_since``; the oldest-pending gauge leaves
such orders out, nothing is wrong with delivery there), which orders the worker should fetch
from Shopify, and when it asked (``order_fetched_at``).
"""

from __future__ import annotations

from collections import defaultdict

from connector.models import SyncStatus
from connector.store.db import Db
from connector.timeutil import db_time_in, now_db

# An order row without a body (newest_event_id NULL) whose parts wait to be delivered.
_WAITING = f"newest_event_id IS NULL AND has_work = 1 AND status IN ('{SyncStatus.PENDING}', '{SyncStatus.RETRYING}')"


def mark_order_missing(db: Db, shop: str, order_id: str) -> None:
    """A delivery found the order's body missing: the wait starts now, unless it already has."""
    db.execute(
        "UPDATE orders SET order_missing_since = coalesce(order_missing_since, ?) WHERE shop = ? AND order_id = ?",
        [now_db(), shop, order_id],
    )


def missing_since(db: Db, shop: str, order_id: str) -> tuple[str | None, str | None]:
    """(since when the order's parts wait for it, when the worker asked Shopify for it)."""
    row = db.execute(
        "SELECT order_missing_since, order_fetched_at FROM orders WHERE shop = ? AND order_id = ?", [shop, order_id]
    ).fetchone()
    return (row[0], row[1]) if row else (None, None)


def orders_to_fetch(db: Db, older_than_s: float, limit: int = 250) -> dict[str, list[str]]:
    """Per shop, orders first seen (by a part) more than ``older_than_s`` ago whose body has not
    arrived and that nobody asked Shopify for yet (read only)."""
    rows = db.execute(
        f"SELECT shop, order_id FROM orders WHERE {_WAITING} AND order_fetched_at IS NULL AND created_at < ? "
        "ORDER BY created_at LIMIT ?",
        [db_time_in(-older_than_s), limit],
    ).fetchall()
    found: dict[str, list[str]] = defaultdict(list)
    for shop, order_id in rows:
        found[shop].append(order_id)
    return dict(found)


def claim_fetches(db: Db, shop: str, order_ids: list[str]) -> list[str]:
    """Record that these orders are being fetched; returns those no other worker claimed first.
    Inside ``write_transaction``, with the job that fetches them; rows locked in key order, as
    every transaction that locks several orders does (no deadlock)."""
    claimed = []
    for order_id in sorted(order_ids):
        cursor = db.execute(
            f"UPDATE orders SET order_fetched_at = ? WHERE shop = ? AND order_id = ? AND order_fetched_at IS NULL "
            f"AND {_WAITING}",
            [now_db(), shop, order_id],
        )
        if cursor.rowcount == 1:
            claimed.append(order_id)
    return claimed
