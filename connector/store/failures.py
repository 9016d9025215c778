"""The dead-letter list and the attempt log.

A dead-lettered order waits for a person: ``replay`` puts it back in the queue. A newer
Shopify state of the same order also revives it (see ``orders._wake``); its delivery then
settles the entry (:func:`settle_delivered`). A closed entry is kept, with when
(``replayed_at``) and why (``resolution``).
"""

from __future__ import annotations

from typing import Any

from connector.models import Attempt, EventState, SyncStatus
from connector.store.db import Db
from connector.store.orders import HAS_WORK_SQL
from connector.store.rows import query_rows, where_equal
from connector.timeutil import now_db

DEAD, QUEUED = EventState.DEAD, EventState.QUEUED
REPLAYED = "replayed"
DELIVERED = "delivered: a newer Shopify state of the order was delivered"


def record_attempt(db: Db, attempt: Attempt) -> None:
    db.execute(
        "INSERT INTO attempts (shop, order_id, what, outcome, status_code, error, worker, started_at, duration_ms) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            attempt.shop,
            attempt.order_id,
            attempt.what,
            attempt.outcome,
            attempt.status_code,
            attempt.error,
            attempt.worker,
            attempt.started_at,
            round(attempt.duration_ms, 2),
        ],
    )


def dead_letter(db: Db, shop: str, order_id: str, reason: str, status_code: int | None) -> int | None:
    """Park the order with its reason; its queued events become ``dead``. Inside ``write_transaction``.
    None when the order is gone (erased meanwhile): nothing is written then."""
    cursor = db.execute(
        f"UPDATE orders SET status = '{SyncStatus.DEAD}', attempts = attempts + 1, last_error = ?, "
        "lease_owner = NULL, lease_until = NULL WHERE shop = ? AND order_id = ?",
        [reason, shop, order_id],
    )
    if cursor.rowcount == 0:
        return None
    attempts = db.execute("SELECT attempts FROM orders WHERE shop = ? AND order_id = ?", [shop, order_id]).fetchone()[0]
    db.execute(
        f"UPDATE events SET state = '{DEAD}', reason = ?, processed_at = ? "
        f"WHERE shop = ? AND order_id = ? AND state = '{QUEUED}'",
        [reason, now_db(), shop, order_id],
    )
    rows = db.execute(
        "INSERT INTO failures (shop, order_id, reason, status_code, attempts, failed_at) VALUES (?, ?, ?, ?, ?, ?) "
        "RETURNING id",
        [shop, order_id, reason, status_code, attempts, now_db()],
    ).fetchall()
    return int(rows[0][0])


def list_failures(
    db: Db, shop: str | None = None, include_replayed: bool = False, limit: int = 100
) -> list[dict[str, Any]]:
    where, params = where_equal(*([] if include_replayed else ["replayed_at IS NULL"]), shop=shop)
    return query_rows(db, f"SELECT * FROM failures {where} ORDER BY id DESC LIMIT ?", [*params, limit])


def count_open_failures(db: Db) -> int:
    """How many dead-letter entries wait for a person (a cheap count for metrics)."""
    return int(db.execute("SELECT count(*) FROM failures WHERE replayed_at IS NULL").fetchone()[0])


def _requeue(db: Db, shop: str, order_id: str) -> None:
    db.execute(
        f"UPDATE events SET state = '{QUEUED}', reason = NULL WHERE shop = ? AND order_id = ? AND state = '{DEAD}'",
        [shop, order_id],
    )
    db.execute(
        f"UPDATE orders SET status = '{SyncStatus.PENDING}', attempts = 0, first_failed_at = NULL, "
        f"next_attempt_at = ?, has_work = {HAS_WORK_SQL} WHERE shop = ? AND order_id = ? AND status = '{SyncStatus.DEAD}'",
        [now_db(), shop, order_id],
    )


def _close_order_failures(db: Db, shop: str, order_id: str, resolution: str) -> int:
    """Close the order's open entries, kept with when and why. Returns how many."""
    cursor = db.execute(
        "UPDATE failures SET replayed_at = ?, resolution = ? WHERE shop = ? AND order_id = ? AND replayed_at IS NULL",
        [now_db(), resolution, shop, order_id],
    )
    return max(cursor.rowcount, 0)


def settle_delivered(db: Db, shop: str, order_id: str) -> int:
    """The order was delivered in full (a newer Shopify state revived it after its dead letter):
    its open entries need no person any more. Inside the transaction that records the success.
    Returns how many were settled."""
    return _close_order_failures(db, shop, order_id, DELIVERED)


def replay_failure(db: Db, failure_id: int) -> dict[str, Any] | None:
    """Queue a dead-lettered order again. None when there is no such open failure.
    Inside ``write_transaction``."""
    rows = query_rows(
        db, f"SELECT * FROM failures WHERE id = ? AND replayed_at IS NULL{db.dialect.lock()}", [failure_id]
    )
    if not rows:
        return None
    failure = rows[0]
    _requeue(db, failure["shop"], failure["order_id"])
    _close_order_failures(db, failure["shop"], failure["order_id"], REPLAYED)
    return failure


def replay_shop(db: Db, shop: str | None = None) -> int:
    """Queue again every open failure (of one shop, or of all shops). Returns how many orders.
    Inside ``write_transaction``."""
    where, params = ("AND shop = ?", [shop]) if shop else ("", [])
    # Locked in key order, as every transaction that locks several orders does (no deadlock).
    rows = db.execute(
        f"SELECT shop, order_id FROM failures WHERE replayed_at IS NULL {where} "
        f"ORDER BY shop, order_id{db.dialect.lock()}",
        params,
    ).fetchall()
    orders = list(dict.fromkeys((order_shop, order_id) for order_shop, order_id in rows))
    for order_shop, order_id in orders:
        _requeue(db, order_shop, order_id)
    db.execute(
        f"UPDATE failures SET replayed_at = ?, resolution = ? WHERE replayed_at IS NULL {where}",
        [now_db(), REPLAYED, *params],
    )
    return len(orders)


def list_attempts(db: Db, shop: str, order_id: str, limit: int = 20) -> list[dict[str, Any]]:
    return query_rows(
        db,
        "SELECT what, outcome, status_code, error, started_at, duration_ms, worker FROM attempts "
        "WHERE shop = ? AND order_id = ? ORDER BY id DESC LIMIT ?",
        [shop, order_id, limit],
    )


def replay_order(db: Db, shop: str, order_id: str) -> bool:
    """Queue one dead-lettered order of ``shop`` again; False when it has no open failure.
    Inside ``write_transaction``."""
    if not db.execute(
        "SELECT 1 FROM failures WHERE shop = ? AND order_id = ? AND replayed_at IS NULL", [shop, order_id]
    ).fetchone():
        return False
    _requeue(db, shop, order_id)
    _close_order_failures(db, shop, order_id, REPLAYED)
    return True
