"""Short per-shop locks across processes (e.g. one token exchange at a time for a shop).

A lock is a row (shop, purpose) with an owner and an expiry: taking it is one conditional upsert
(it succeeds when the row is absent or expired), so a crashed holder never blocks for longer
than its ``ttl_s``.
"""

from __future__ import annotations

from connector.store.db import Db
from connector.timeutil import db_time_in, now_db


def take_shop_lock(db: Db, shop: str, purpose: str, owner: str, ttl_s: float) -> bool:
    """True when ``owner`` now holds the lock (self-contained: one statement)."""
    cursor = db.execute(
        """
        INSERT INTO shop_locks (shop, purpose, owner, until) VALUES (?, ?, ?, ?)
        ON CONFLICT (shop, purpose) DO UPDATE SET owner = excluded.owner, until = excluded.until
        WHERE shop_locks.until < ?
        """,
        [shop, purpose, owner, db_time_in(ttl_s), now_db()],
    )
    return cursor.rowcount == 1


def release_shop_lock(db: Db, shop: str, purpose: str, owner: str) -> None:
    db.execute("DELETE FROM shop_locks WHERE shop = ? AND purpose = ? AND owner = ?", [shop, purpose, owner])
