"""Sync state per (shop, Shopify order id): what is pending, what the target holds, leases.

The newest known state of an order is a pointer to the event that carries it
(``newest_event_id``); delivering means bringing ``delivered_event_id`` up to it. Several
events of one order therefore fold into one delivery, and an older one can never overwrite a
newer one (``updated_at`` only moves forward).
"""

from __future__ import annotations

from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from typing import Any

from connector.models import EventState, PartKind, SyncStatus
from connector.store.db import Db
from connector.store.holds import FAR_FUTURE, DeliveryScope, deliverable_sql, hold_undeliverable
from connector.store.rows import query_rows, update_in_key_order, where_equal
from connector.timeutil import db_time_in, now_db

PENDING, SYNCED, RETRYING, DEAD = SyncStatus.PENDING, SyncStatus.SYNCED, SyncStatus.RETRYING, SyncStatus.DEAD
Folded = tuple[EventState, "str | None"]  # the event's new state and why

# An order has work when its newest state, a deletion or one of its parts is not delivered yet.
# Written in the SQL both engines run: no null-safe ``IS NOT`` (ids are positive, so coalescing
# to -1/-2 compares the same way), and an integer 0/1 for the INTEGER column, not a boolean
# (PostgreSQL does not store a boolean in an integer column).
PART_UNDELIVERED_SQL = "coalesce(p.newest_event_id, -2) <> coalesce(p.delivered_event_id, -1)"


def _has_work_sql(delivered_event_id: str = "delivered_event_id") -> str:
    return f"""(CASE WHEN
    (newest_event_id IS NOT NULL AND newest_event_id <> coalesce({delivered_event_id}, -1))
    OR (deleted_at IS NOT NULL AND delete_delivered = 0)
    OR EXISTS (SELECT 1 FROM order_parts p WHERE p.shop = orders.shop AND p.order_id = orders.order_id
               AND {PART_UNDELIVERED_SQL})
THEN 1 ELSE 0 END)"""


HAS_WORK_SQL = _has_work_sql()
# The end of a claim that delivered everything: failures cleared, lease released, work recomputed.
# With the delivered event id as a parameter, for the UPDATE that also records it (whose SET
# expressions see the row as it was).
_FINISH_SET = (
    "status = CASE WHEN {has_work} = 1 THEN '" + PENDING + "' ELSE '" + SYNCED + "' END, has_work = {has_work}, "
    "attempts = 0, first_failed_at = NULL, last_error = NULL, lease_owner = NULL, lease_until = NULL, next_attempt_at = ?"
)
_FINISH_SQL = _FINISH_SET.format(has_work=HAS_WORK_SQL)
_FINISH_AFTER_SNAPSHOT_SQL = _FINISH_SET.format(has_work=_has_work_sql("?"))


class LeaseLostError(Exception):
    """Another process took over a lease we held (ours had lapsed): stop without recording,
    so a stalled worker never writes its stale result over the new owner's."""


@dataclass(frozen=True)
class PartWork:
    kind: PartKind
    part_id: str
    newest_event_id: int
    newest_updated_at: str | None
    remote_id: str | None
    payload_hash: str | None
    remote_items: str | None = None  # JSON: the resources the part became (m007)


@dataclass(frozen=True)
class OrderWork:
    """A claimed order and everything still to deliver for it."""

    shop: str
    order_id: str
    remote_id: str | None
    snapshot_event_id: int | None  # newest order body to deliver, None when up to date
    snapshot_updated_at: str | None
    latest_snapshot_event_id: int | None  # newest order body known at all (for parts' context)
    payload_hash: str | None
    delete_pending: bool
    silent: bool
    attempts: int
    parts: tuple[PartWork, ...]
    # A dead letter of the order is open (it was revived since): a success settles it. Only the
    # lease holder dead-letters, so none can open while we hold the lease but our own.
    open_failures: bool


def _ensure_order(db: Db, shop: str, order_id: str) -> dict[str, Any]:
    """The order's sync row, created when this is the first we hear of the order, and locked
    until the transaction ends (newest-state-wins compares against it).

    Insert-if-missing, then read: two triagers of one new order never collide on the key. A new
    order comes back from the insert itself (``RETURNING``; locked already, as ours): one
    statement instead of two for the common case, an order's first event."""
    now = now_db()
    inserted = query_rows(
        db,
        "INSERT INTO orders (shop, order_id, next_attempt_at, created_at, placed_at) VALUES (?, ?, ?, ?, ?) "
        "ON CONFLICT (shop, order_id) DO NOTHING RETURNING *",
        [shop, order_id, now, now, now],
    )
    if inserted:
        return inserted[0]
    return _locked_order(db, shop, order_id)


def _locked_order(db: Db, shop: str, order_id: str) -> dict[str, Any]:
    return query_rows(db, f"SELECT * FROM orders WHERE shop = ? AND order_id = ?{db.dialect.lock()}", [shop, order_id])[
        0
    ]


def _create_woken_order(db: Db, shop: str, order_id: str, **columns: Any) -> bool:
    """The row of an order heard of for the first time, created with ``columns`` and due now:
    what :func:`_ensure_order` and :func:`_wake` write for it, in one statement (one in ~20 of
    an order's way through the worker). False, writing nothing, when the order has a row."""
    now = now_db()
    # The table's defaults are a woken order's (status pending, has_work 1, attempts 0).
    values = {"next_attempt_at": now, "created_at": now, "placed_at": now, **columns}
    names = ", ".join(values)
    created = db.execute(
        f"INSERT INTO orders (shop, order_id, {names}) VALUES (?, ?, {', '.join('?' for _ in values)}) "
        "ON CONFLICT (shop, order_id) DO NOTHING RETURNING 1",
        [shop, order_id, *values.values()],
    ).fetchall()
    return bool(created)


def lock_orders(db: Db, keys: list[tuple[str, str]]) -> None:
    """Create-if-missing and lock the sync rows of ``keys`` ((shop, order id), in key order),
    two statements for the whole batch. Inside ``write_transaction``; see triage."""
    if not keys:
        return
    now = now_db()
    db.execute(
        "INSERT INTO orders (shop, order_id, next_attempt_at, created_at, placed_at) VALUES "
        + ", ".join("(?, ?, ?, ?, ?)" for _ in keys)
        + " ON CONFLICT (shop, order_id) DO NOTHING",
        [value for shop, order_id in keys for value in (shop, order_id, now, now, now)],
    )
    db.execute(
        f"SELECT 1 FROM orders WHERE (shop, order_id) IN (VALUES {', '.join('(?, ?)' for _ in keys)}) "
        f"ORDER BY shop, order_id{db.dialect.lock()}",
        [value for key in keys for value in key],
    )


def lock_parts(db: Db, keys: list[tuple[str, str, str, str]]) -> None:
    """Create-if-missing and lock the part rows of ``keys`` ((shop, kind, part id, order id), in
    key order). Inside ``write_transaction``, after :func:`lock_orders`."""
    if not keys:
        return
    db.execute(
        "INSERT INTO order_parts (shop, kind, part_id, order_id) VALUES "
        + ", ".join("(?, ?, ?, ?)" for _ in keys)
        + " ON CONFLICT DO NOTHING",
        [value for key in keys for value in key],
    )
    db.execute(
        f"SELECT 1 FROM order_parts WHERE (shop, kind, part_id) IN (VALUES {', '.join('(?, ?, ?)' for _ in keys)}) "
        f"ORDER BY shop, kind, part_id{db.dialect.lock()}",
        [value for shop, kind, part_id, _ in keys for value in (shop, kind, part_id)],
    )


def _wake(db: Db, shop: str, order_id: str, row: dict[str, Any], due_now: bool = False, **changes: Any) -> None:
    """Apply ``changes`` and mark the order as having work, in one UPDATE.

    A dead-lettered or synced order becomes due now; a retrying one keeps its backoff (new
    events must not hammer a target that is down) unless ``due_now``: what its retries were
    waiting for has arrived.
    """
    if row["status"] != RETRYING or due_now:
        changes.update(status=PENDING, attempts=0, first_failed_at=None, next_attempt_at=now_db())
    changes["has_work"] = 1
    assignments = ", ".join(f"{column} = ?" for column in changes)
    db.execute(f"UPDATE orders SET {assignments} WHERE shop = ? AND order_id = ?", [*changes.values(), shop, order_id])


@dataclass(frozen=True)
class OrderLabel:
    """How the merchant knows the order: ``#1001`` (``name``), ``1001``, and when it was placed."""

    name: str | None = None
    number: str | None = None
    placed_at: str | None = None

    def columns(self) -> dict[str, str]:
        values = {"name": self.name, "order_number": self.number, "placed_at": self.placed_at}
        return {column: value for column, value in values.items() if value}


def queue_order_snapshot(
    db: Db,
    shop: str,
    order_id: str,
    event_id: int,
    updated_at: str,
    silent: bool = False,
    label: OrderLabel | None = None,
) -> Folded:
    """Fold an order body into the sync state. Returns the event's new state and a reason.

    Inside ``write_transaction``.
    """
    state = {
        "newest_event_id": event_id,
        "newest_updated_at": updated_at,
        "silent": int(silent),
        **(label or OrderLabel()).columns(),
    }
    if _create_woken_order(db, shop, order_id, **state):
        return EventState.QUEUED, None
    row = _locked_order(db, shop, order_id)
    if row["deleted_at"]:
        return EventState.STALE, "order was deleted in Shopify"
    delivered = row["delivered_updated_at"]
    if delivered and updated_at < delivered:
        return EventState.STALE, f"updated_at {updated_at} is older than delivered {delivered}"
    newest = row["newest_updated_at"]
    if newest and updated_at < newest:
        return EventState.SUPERSEDED, f"a newer state ({newest}) is already queued"
    # The first body of an order whose parts came first: those parts were waiting for it
    # (WaitingError), so the order is due now rather than after their backoff.
    _wake(db, shop, order_id, row, due_now=row["newest_event_id"] is None, **state)
    return EventState.QUEUED, None


def queue_order_delete(db: Db, shop: str, order_id: str) -> Folded:
    """Mark the order deleted in Shopify, to be told to the target. Inside ``write_transaction``."""
    row = _ensure_order(db, shop, order_id)
    if row["deleted_at"]:
        return EventState.SUPERSEDED, "order already marked deleted"
    _wake(db, shop, order_id, row, deleted_at=now_db())
    return EventState.QUEUED, None


def queue_part(
    db: Db,
    shop: str,
    order_id: str,
    kind: str,
    part_id: str,
    event_id: int,
    updated_at: str,
) -> Folded:
    """Fold a fulfillment/refund body into its order's work. Inside ``write_transaction``."""
    order = _ensure_order(db, shop, order_id)
    db.execute(
        "INSERT INTO order_parts (shop, kind, part_id, order_id) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
        [shop, kind, part_id, order_id],
    )
    part = query_rows(
        db,
        f"SELECT * FROM order_parts WHERE shop = ? AND kind = ? AND part_id = ?{db.dialect.lock()}",
        [shop, kind, part_id],
    )[0]
    if part["delivered_updated_at"] and updated_at < part["delivered_updated_at"]:
        return EventState.STALE, f"{kind} updated_at {updated_at} is older than delivered"
    if part["newest_updated_at"] and updated_at < part["newest_updated_at"]:
        return EventState.SUPERSEDED, f"a newer {kind} state is already queued"
    db.execute(
        "UPDATE order_parts SET newest_event_id = ?, newest_updated_at = ? WHERE shop = ? AND kind = ? AND part_id = ?",
        [event_id, updated_at, shop, kind, part_id],
    )
    _wake(db, shop, order_id, order)
    return EventState.QUEUED, None


def claim_due_orders(
    db: Db,
    owner: str,
    limit: int,
    lease_s: float,
    exclude: AbstractSet[tuple[str, str]] = frozenset(),
    *,
    scope: DeliveryScope,
    park: bool = True,
) -> list[tuple[str, str]]:
    """Lease up to ``limit`` orders that have due work, for shops that may deliver now (see
    :mod:`.holds`); the due orders of the others are held (parked) after the claim, when
    ``park`` or when fewer than ``limit`` came back (the blocked orders may be all that is due).

    An expired lease (a crashed worker) is taken over. One statement (select the due orders,
    lease them, return them), so no two workers can claim one order, in or outside a
    transaction; on PostgreSQL the selection skips rows another claim has locked
    (``FOR UPDATE SKIP LOCKED``) instead of waiting for them. Parking looks at every due order
    (the claim's own check keeps a blocked one from being delivered meanwhile): run after every
    claim of a 2,000-order backlog it was ~4% of the worker's CPU per order, growing with the
    backlog, hence ``park`` (the worker asks for it at most once a second while claims come back
    full).
    """
    now = now_db()
    condition, params = deliverable_sql("o", scope, now)
    keep_out, excluded = "", []
    if exclude:  # our own deliveries in flight, whose lease may have lapsed meanwhile
        keep_out = f"AND NOT ((o.shop, o.order_id) IN (VALUES {', '.join('(?, ?)' for _ in exclude)}))"
        excluded = [part for key in sorted(exclude) for part in key]
    rows = db.execute(
        f"""
        WITH due AS MATERIALIZED (
            SELECT o.shop, o.order_id FROM orders o
            WHERE o.has_work = 1 AND o.status IN ('{PENDING}', '{RETRYING}') AND o.next_attempt_at <= ?
              AND (o.lease_until IS NULL OR o.lease_until < ?) AND {condition} {keep_out}
            ORDER BY o.next_attempt_at LIMIT ?{db.dialect.lock(of="o", skip_locked=True)}
        )
        UPDATE orders SET lease_owner = ?, lease_until = ?
        WHERE (shop, order_id) IN (SELECT shop, order_id FROM due)
        RETURNING shop, order_id
        """,
        [now, now, *params, *excluded, limit, owner, db_time_in(lease_s)],
    ).fetchall()
    if park or len(rows) < limit:
        hold_undeliverable(db, scope, now)  # what we just leased is not due any more: left alone
    return [(shop, order_id) for shop, order_id in rows]


def hold_lease(db: Db, shop: str, order_id: str, owner: str) -> None:
    """Fencing: raise :class:`LeaseLostError` unless ``owner`` still holds the order's lease.

    First statement of every transaction that records a delivery's result (a snapshot's record
    does the same within its UPDATE: :func:`record_snapshot_delivered`): a worker that stalled
    past its lease, whose order another worker claimed meanwhile, must not write its stale result
    over the new owner's. Inside ``write_transaction``: the order row stays locked until it
    ends, so the lease cannot change hands before our writes commit, and the statements after
    this one see every triage that committed before it (PostgreSQL's READ COMMITTED takes a
    fresh snapshot per statement).
    """
    row = db.execute(
        f"SELECT lease_owner FROM orders WHERE shop = ? AND order_id = ?{db.dialect.lock()}", [shop, order_id]
    ).fetchone()
    if row is None or row[0] != owner:
        raise LeaseLostError(f"lease on {shop} order {order_id} is now held by {row[0] if row else 'nobody'}")


def extend_lease(db: Db, shop: str, order_id: str, owner: str, lease_s: float) -> None:
    """Push our lease ``lease_s`` further out (only while we still hold it)."""
    db.execute(
        "UPDATE orders SET lease_until = ? WHERE shop = ? AND order_id = ? AND lease_owner = ?",
        [db_time_in(lease_s), shop, order_id, owner],
    )


def release_leases(db: Db, keys: list[tuple[str, str]], owner: str) -> None:
    """Give back ``owner``'s leases on ``keys`` (orders it claimed and will not deliver now)."""
    for shop, order_id in keys:
        db.execute(
            "UPDATE orders SET lease_owner = NULL, lease_until = NULL WHERE shop = ? AND order_id = ? AND lease_owner = ?",
            [shop, order_id, owner],
        )


# One statement for a claimed order's work: its row, whether a dead letter of it is open, and a
# row per part still to deliver (none: one row with the part columns NULL). Two reads and the
# settling UPDATE that every success ran for nothing were ~3% of a delivery's CPU (bench/deliver.py).
_PART_COLUMNS = ("kind", "part_id", "newest_event_id", "newest_updated_at", "remote_id", "payload_hash", "remote_items")
_ORDER_WORK_SQL = f"""
SELECT o.*,
       EXISTS (SELECT 1 FROM failures f WHERE f.replayed_at IS NULL AND f.shop = o.shop
               AND f.order_id = o.order_id) AS open_failures,
       {", ".join(f"p.{name} AS part__{name}" for name in _PART_COLUMNS)}
FROM orders o
LEFT JOIN order_parts p ON p.shop = o.shop AND p.order_id = o.order_id AND {PART_UNDELIVERED_SQL}
WHERE o.shop = ? AND o.order_id = ?
ORDER BY p.newest_event_id
"""


def load_order_work(db: Db, shop: str, order_id: str) -> OrderWork | None:
    """What is still to deliver for a claimed order; None when the order is gone (erased)."""
    rows = query_rows(db, _ORDER_WORK_SQL, [shop, order_id])
    if not rows:
        return None
    row = rows[0]
    parts = tuple(
        PartWork(*(part[f"part__{name}"] for name in _PART_COLUMNS)) for part in rows if part["part__kind"] is not None
    )
    snapshot_due = row["newest_event_id"] is not None and row["newest_event_id"] != row["delivered_event_id"]
    return OrderWork(
        shop=shop,
        order_id=order_id,
        remote_id=row["remote_id"],
        snapshot_event_id=row["newest_event_id"] if snapshot_due else None,
        snapshot_updated_at=row["newest_updated_at"] if snapshot_due else None,
        latest_snapshot_event_id=row["newest_event_id"],
        payload_hash=row["payload_hash"],
        delete_pending=bool(row["deleted_at"]) and not row["delete_delivered"],
        silent=bool(row["silent"]),
        attempts=row["attempts"],
        parts=parts,
        open_failures=bool(row["open_failures"]),
    )


def record_snapshot_delivered(
    db: Db,
    shop: str,
    order_id: str,
    event_id: int,
    updated_at: str | None,
    payload_hash: str,
    remote_id: str | None,
    owner: str | None = None,
    finish: bool = False,
) -> None:
    """The order's snapshot ``event_id`` is at the target. With ``owner``, this is also the
    fencing of :func:`hold_lease`, in the same statement: run first in its transaction, it locks
    the row as that SELECT would, and writes only while ``owner`` holds the lease (else raises
    :class:`LeaseLostError`). With ``finish``, it also ends the claim as :func:`finish_success`
    does (the snapshot was its last step). Two statements fewer for every delivered order."""
    now = now_db()
    ending, end_params = (f", {_FINISH_AFTER_SNAPSHOT_SQL}", [event_id, event_id, now]) if finish else ("", [])
    fence = " AND lease_owner = ?" if owner is not None else ""
    cursor = db.execute(
        "UPDATE orders SET delivered_event_id = ?, delivered_updated_at = CASE "
        "WHEN coalesce(delivered_updated_at, '') > ? THEN delivered_updated_at ELSE ? END, "
        f"payload_hash = ?, remote_id = coalesce(?, remote_id), last_synced_at = ?{ending} "
        f"WHERE shop = ? AND order_id = ?{fence}",
        [event_id, updated_at or "", updated_at or "", payload_hash, remote_id, now, *end_params, shop, order_id]
        + ([owner] if owner is not None else []),
    )
    if owner is not None and cursor.rowcount == 0:
        hold_lease(db, shop, order_id, owner)  # raises, naming who holds the lease now
        raise LeaseLostError(f"lease on {shop} order {order_id} lost")


def record_part_delivered(
    db: Db,
    shop: str,
    kind: str,
    part_id: str,
    event_id: int,
    updated_at: str | None,
    payload_hash: str | None,
    remote_id: str | None,
    remote_items: str | None = None,
) -> None:
    """The part's state is delivered. With ``remote_items`` (the part is several resources at the
    target) ``remote_id`` is their summary and replaces the stored one, none included."""
    remote = "remote_id = ?, remote_items = ?" if remote_items is not None else "remote_id = coalesce(?, remote_id)"
    db.execute(
        "UPDATE order_parts SET delivered_event_id = ?, delivered_updated_at = ?, "
        f"payload_hash = coalesce(?, payload_hash), {remote} WHERE shop = ? AND kind = ? AND part_id = ?",
        [
            event_id,
            updated_at,
            payload_hash,
            remote_id,
            *([remote_items] if remote_items is not None else []),
            shop,
            kind,
            part_id,
        ],
    )


def record_delete_delivered(db: Db, shop: str, order_id: str) -> None:
    db.execute(
        "UPDATE orders SET delete_delivered = 1, last_synced_at = ? WHERE shop = ? AND order_id = ?",
        [now_db(), shop, order_id],
    )


def finish_success(db: Db, shop: str, order_id: str) -> None:
    """Everything claimed was delivered: clear failures, release the lease, recompute work."""
    db.execute(f"UPDATE orders SET {_FINISH_SQL} WHERE shop = ? AND order_id = ?", [now_db(), shop, order_id])


def finish_transient(db: Db, shop: str, order_id: str, reason: str, retry_in_s: float) -> None:
    """Reschedule durably: the next attempt waits ``retry_in_s``; a restart resumes from here."""
    db.execute(
        f"UPDATE orders SET status = '{RETRYING}', attempts = attempts + 1, last_error = ?, "
        "first_failed_at = coalesce(first_failed_at, ?), next_attempt_at = ?, "
        f"has_work = {HAS_WORK_SQL}, lease_owner = NULL, lease_until = NULL "
        "WHERE shop = ? AND order_id = ?",
        [reason, now_db(), db_time_in(retry_in_s), shop, order_id],
    )


def finish_skipped(db: Db, shop: str, order_id: str, reason: str) -> None:
    """The merchant's options leave the order out: nothing is sent and nothing counts as
    delivered. It waits, work and all, until a newer state of it arrives (``_wake``) or the
    options change (:func:`~connector.store.holds.release_skipped_orders`), and is judged again."""
    db.execute(
        f"UPDATE orders SET status = '{SyncStatus.SKIPPED}', last_error = ?, attempts = 0, first_failed_at = NULL, "
        "next_attempt_at = ?, lease_owner = NULL, lease_until = NULL WHERE shop = ? AND order_id = ?",
        [reason, FAR_FUTURE, shop, order_id],
    )


def reset_remote_refs(db: Db, shop: str) -> None:
    """The shop now delivers to another account: forget the old account's ids and payload hashes,
    so no later update is addressed to the old account's orders and nothing is taken as unchanged."""
    cleared = "remote_id = NULL, payload_hash = NULL"
    update_in_key_order(db, "orders", "shop, order_id", cleared, "shop = ?", where_params=[shop])
    update_in_key_order(db, "order_parts", "shop, kind, part_id", cleared, "shop = ?", where_params=[shop])


def failing_since(db: Db, shop: str, order_id: str) -> str | None:
    row = db.execute("SELECT first_failed_at FROM orders WHERE shop = ? AND order_id = ?", [shop, order_id]).fetchone()
    return row[0] if row else None


def get_order(db: Db, shop: str, order_id: str) -> dict[str, Any] | None:
    rows = query_rows(db, "SELECT * FROM orders WHERE shop = ? AND order_id = ?", [shop, order_id])
    return rows[0] if rows else None


def list_orders(db: Db, shop: str | None = None, status: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
    where, params = where_equal(shop=shop, status=status)
    return query_rows(
        db,
        "SELECT shop, order_id, status, remote_id, attempts, last_error, last_synced_at, "
        "delivered_updated_at AS shopify_updated_at, next_attempt_at, payload_hash "
        # Never-synced orders last on both engines (PostgreSQL sorts NULL first when descending).
        f"FROM orders {where} ORDER BY last_synced_at IS NULL, last_synced_at DESC, order_id LIMIT ?",
        [*params, limit],
    )


def count_orders_by_status(db: Db) -> dict[str, int]:
    return {r["status"]: r["n"] for r in query_rows(db, "SELECT status, count(*) AS n FROM orders GROUP BY status")}


def newest_updated_at_by_order(db: Db, shop: str, order_ids: list[str]) -> dict[str, str | None]:
    """``order id → newest_updated_at`` for the orders of ``shop`` that have sync state."""
    out: dict[str, str | None] = {}
    for start in range(0, len(order_ids), 500):  # stay under SQLite's variable limit
        chunk = order_ids[start : start + 500]
        marks = ", ".join("?" for _ in chunk)
        for oid, updated in db.execute(
            f"SELECT order_id, newest_updated_at FROM orders WHERE shop = ? AND order_id IN ({marks})", [shop, *chunk]
        ):
            out[oid] = updated
    return out
