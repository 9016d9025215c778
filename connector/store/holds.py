"""Which shops may deliver now, and the orders that wait because theirs may not.

A shop delivers when it is installed, has a tracking account (one its operator assigned in the
configuration, one its merchant connected, or the global one where ``target.all_shops`` says so),
is not paused by its merchant, and its account is not held for refused credentials. The orders of
any other shop are *held*: status ``held`` with ``next_attempt_at`` at :data:`FAR_FUTURE`, so the
claim's index range never scans them again; :func:`release_held_orders` makes them due when the
shop may deliver again. The claim re-checks the same predicate, so a missed release only delays,
and a stale ``pending`` of a blocked shop is never delivered.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from connector.models import SyncStatus
from connector.store.db import Db
from connector.store.rows import update_in_key_order
from connector.timeutil import now_db

FAR_FUTURE = "9999-12-31T00:00:00.000000Z"
PENDING, RETRYING, HELD = SyncStatus.PENDING, SyncStatus.RETRYING, SyncStatus.HELD
ORDER_KEY = "shop, order_id"


@dataclass(frozen=True)
class DeliveryScope:
    """What the configuration (not the database) says about accounts: the shops whose account
    the operator assigned, and whether the global account serves every other shop."""

    assigned: frozenset[str] = field(default_factory=frozenset)
    all_shops: bool = False


def deliverable_sql(alias: str, scope: DeliveryScope, now: str) -> tuple[str, list[Any]]:
    """A SQL condition true when the shop of ``alias``'s row may deliver now, and its params."""
    assigned = sorted(scope.assigned)
    in_assigned = f"{alias}.shop IN ({', '.join('?' for _ in assigned)})" if assigned else "0 = 1"
    sql = f"""(
        EXISTS (SELECT 1 FROM shops s WHERE s.shop = {alias}.shop AND s.uninstalled_at IS NULL)
        AND ({in_assigned} OR ? = 1
             OR EXISTS (SELECT 1 FROM shop_settings t WHERE t.shop = {alias}.shop AND t.kind IS NOT NULL))
        AND ({in_assigned}
             OR NOT EXISTS (SELECT 1 FROM shop_settings t WHERE t.shop = {alias}.shop AND t.paused = 1))
        AND NOT EXISTS (SELECT 1 FROM shop_settings t WHERE t.shop = {alias}.shop
                        AND t.check_ok = 0 AND t.recheck_at IS NOT NULL AND t.recheck_at > ?)
    )"""
    return sql, [*assigned, int(scope.all_shops), *assigned, now]


def hold_undeliverable(db: Db, scope: DeliveryScope, now: str) -> int:
    """Park the due orders of shops that may not deliver now; returns how many.
    Inside the claim's ``write_transaction``.

    Every claim runs this, so it must never wait: an order row another transaction has locked
    (a concurrent claim parking the same rows, a triage or delivery step writing it) is skipped,
    not waited for (``SKIP LOCKED`` on PostgreSQL; SQLite's write lock already serialises). A
    skipped row is only parked by a later claim; meanwhile the claim's own check keeps it from
    being delivered."""
    condition, params = deliverable_sql("o", scope, now)
    cursor = db.execute(
        f"""
        WITH undeliverable AS MATERIALIZED (
            SELECT o.shop, o.order_id FROM orders o
            WHERE o.has_work = 1 AND o.status IN ('{PENDING}', '{RETRYING}') AND o.next_attempt_at <= ?
              AND (o.lease_until IS NULL OR o.lease_until < ?) AND NOT {condition}
            {db.dialect.lock(of="o", skip_locked=True)}
        )
        UPDATE orders SET status = '{HELD}', next_attempt_at = ?, attempts = 0, first_failed_at = NULL
        WHERE (shop, order_id) IN (SELECT shop, order_id FROM undeliverable)
        RETURNING 1
        """,
        [now, now, *params, FAR_FUTURE],
    )
    return len(cursor.fetchall())  # no rowcount from sqlite3 for a statement starting WITH


def release_held_orders(db: Db, shop: str | None = None) -> int:
    """Make a shop's held orders (every shop's, when ``shop`` is None) due now; returns how many.
    Self-contained."""
    return _make_due(db, HELD, shop)


def release_skipped_orders(db: Db, shop: str) -> int:
    """The shop's options changed: its skipped orders are judged again (due now)."""
    return _make_due(db, SyncStatus.SKIPPED, shop)


def _make_due(db: Db, status: str, shop: str | None) -> int:
    """Set the orders in ``status`` (of ``shop``) pending and due now (locked in key order, so
    this cannot deadlock with triage on PostgreSQL: :func:`~.rows.update_in_key_order`)."""
    where, params = ("status = ? AND shop = ?", [status, shop]) if shop else ("status = ?", [status])
    return update_in_key_order(
        db, "orders", ORDER_KEY, f"status = '{PENDING}', next_attempt_at = ?", where, [now_db()], params
    )


def hold_order(db: Db, shop: str, order_id: str, reason: str) -> None:
    """Park one claimed order whose account refused it (nothing counts as a failed attempt)."""
    db.execute(
        f"UPDATE orders SET status = '{HELD}', next_attempt_at = ?, attempts = 0, first_failed_at = NULL, "
        "last_error = ?, lease_owner = NULL, lease_until = NULL WHERE shop = ? AND order_id = ?",
        [FAR_FUTURE, reason, shop, order_id],
    )
