"""Stored webhook events: intake, triage state, and look-ups."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from connector.models import PRUNABLE_EVENT_STATES, EventState, SyncStatus
from connector.store.db import Db, SqliteDb
from connector.store.rows import query_rows
from connector.timeutil import db_time_in, now_db, parse_iso, utc_now

NEW, QUEUED, HELD, SKIPPED = EventState.NEW, EventState.QUEUED, EventState.HELD, EventState.SKIPPED
# The lock every triage batch holds (see connector.worker.triage), and whatever sends events back to it.
TRIAGE_LOCK = "triage"
# Events stored with this source are backfills/re-syncs: what they carry must not message customers.
SILENT_SOURCE = "resync-silent"


@dataclass(frozen=True)
class NewEvent:
    shop: str
    topic: str
    dedupe_key: str
    body: bytes
    webhook_id: str | None = None
    event_id: str | None = None
    api_version: str | None = None
    triggered_at: str | None = None
    test: bool = False
    source: str = "webhook"
    received_at: str | None = None  # set when filed from the intake journal; otherwise now


_EVENT_COLUMNS = (
    "(shop, topic, dedupe_key, webhook_id, event_id, api_version, triggered_at, received_at, test, source, body)"
)
_EVENT_ROW = "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
# One statement's rows: 11 parameters each, far below SQLite's 32,766; a few statement texts to cache.
MAX_EVENTS_PER_INSERT = 32


def _event_values(event: NewEvent, received_at: str) -> tuple[Any, ...]:
    """An event's values in ``_EVENT_COLUMNS`` order."""
    return (
        event.shop,
        event.topic,
        event.dedupe_key,
        event.webhook_id,
        event.event_id,
        event.api_version,
        event.triggered_at,
        event.received_at or received_at,
        int(event.test),
        event.source,
        event.body,
    )


def save_event(db: Db, event: NewEvent) -> tuple[int | None, bool]:
    """Store an event (its body in ``event_bodies``) unless (shop, topic, dedupe key) is already there.

    Returns ``(event id, duplicate)``. One statement in autocommit: durable once this returns.
    On SQLite the body goes into the event's row and a trigger moves it (dialect.body_trigger);
    elsewhere the statement inserts the body row itself.
    """
    values = _event_values(event, now_db())
    insert = f"INSERT INTO events {_EVENT_COLUMNS} VALUES {_EVENT_ROW} ON CONFLICT (shop, topic, dedupe_key) DO NOTHING"
    if db.dialect.bodies_by_trigger:
        sql, params = f"{insert} RETURNING id", list(values)
    else:
        sql = (
            f"WITH new AS ({insert} RETURNING id) "
            "INSERT INTO event_bodies (event_id, body) SELECT id, ? FROM new RETURNING event_id"
        )
        params = [*values[:-1], b"", event.body]  # the event row's body (last of _EVENT_COLUMNS) stays empty
    rows = db.execute(sql, params).fetchall()  # all of it: SQLite finishes (and commits) the statement only then
    if rows:
        return int(rows[0][0]), False
    return None, True


def save_events_at_once(db: SqliteDb, events: Sequence[NewEvent]) -> list[tuple[int | None, bool]]:
    """Store up to ``MAX_EVENTS_PER_INSERT`` events in one autocommit INSERT (SQLite only: its
    trigger moves each body into ``event_bodies`` within the statement).

    Returns ``(event id, duplicate)`` per event, in order, as :func:`save_event` does. One
    statement is one call into SQLite that runs without the GIL: it takes the write lock, writes
    every row, commits and lets go of the lock, with no Python (no wait for the GIL) in between.
    The ids come from the statement's own count and last rowid: rows inserted by one statement
    get consecutive rowids in VALUES order. Only when some rows were already there (duplicates)
    are the new rows looked up afterwards, by id.
    """
    if not 1 <= len(events) <= MAX_EVENTS_PER_INSERT:
        raise ValueError(f"between 1 and {MAX_EVENTS_PER_INSERT} events per statement, not {len(events)}")
    received_at = now_db()
    params = [value for event in events for value in _event_values(event, received_at)]
    cursor = db.conn.execute(
        f"INSERT INTO events {_EVENT_COLUMNS} VALUES {', '.join([_EVENT_ROW] * len(events))} "
        "ON CONFLICT (shop, topic, dedupe_key) DO NOTHING",
        params,
    )
    inserted, last_id = cursor.rowcount, cursor.lastrowid or 0  # lastrowid: set by an INSERT
    if inserted == len(events):
        first_id = last_id - inserted + 1
        return [(first_id + n, False) for n in range(inserted)]
    return _sort_out_duplicates(db, events, inserted, last_id)


def save_events_with_bodies(db: SqliteDb, events: Sequence[NewEvent]) -> int:
    """Insert up to ``MAX_EVENTS_PER_INSERT`` events, and a body row for each that is new, within
    the caller's transaction (SQLite); returns how many were new.

    The event rows go in with empty bodies, which the body trigger leaves alone, and the bodies
    straight into ``event_bodies``: a body is written once instead of into the event row first
    (filing the intake journal, 67-71 against 91-103 µs per 5-12 KB webhook, measured alone)."""
    if not 1 <= len(events) <= MAX_EVENTS_PER_INSERT:
        raise ValueError(f"between 1 and {MAX_EVENTS_PER_INSERT} events per statement, not {len(events)}")
    received_at = now_db()
    params = [value for event in events for value in (*_event_values(event, received_at)[:-1], b"")]
    rows = db.conn.execute(
        f"INSERT INTO events {_EVENT_COLUMNS} VALUES {', '.join([_EVENT_ROW] * len(events))} "
        "ON CONFLICT (shop, topic, dedupe_key) DO NOTHING RETURNING id, shop, topic, dedupe_key",
        params,
    ).fetchall()
    added = {(shop, topic, key): id_ for id_, shop, topic, key in rows}
    bodies = []
    for event in events:
        id_ = added.pop((event.shop, event.topic, event.dedupe_key), None)  # a key twice: the first is new
        if id_ is not None:
            bodies.append((id_, event.body))
    db.conn.executemany("INSERT INTO event_bodies (event_id, body) VALUES (?, ?)", bodies)
    return len(bodies)


def _sort_out_duplicates(
    db: SqliteDb, events: Sequence[NewEvent], inserted: int, last_id: int
) -> list[tuple[int | None, bool]]:
    """Which of ``events`` the INSERT added (the rows ``last_id - inserted + 1`` … ``last_id``);
    the others were there already: ``(None, True)``, as :func:`save_event` answers a duplicate."""
    added: dict[tuple[str, str, str], int] = {}
    if inserted:
        rows = db.execute(
            "SELECT id, shop, topic, dedupe_key FROM events WHERE id BETWEEN ? AND ?",
            [last_id - inserted + 1, last_id],
        )
        added = {(shop, topic, key): id_ for id_, shop, topic, key in rows}
    results: list[tuple[int | None, bool]] = []
    for event in events:
        id_ = added.pop((event.shop, event.topic, event.dedupe_key), None)  # a key twice: the first is new
        results.append((id_, id_ is None))
    return results


def fetch_new_events(db: Db, limit: int) -> list[dict[str, Any]]:
    """The oldest events not yet triaged, without their bodies (triage reads each body in turn:
    a batch of 5 MB bodies must not sit in memory at once)."""
    return query_rows(
        db,
        "SELECT id, shop, topic, source, received_at, triggered_at FROM events "
        f"WHERE state = '{NEW}' ORDER BY id LIMIT ?",
        [limit],
    )


def still_new_event_ids(db: Db, event_ids: list[int]) -> set[int]:
    """Which of ``event_ids`` are still waiting for triage. Read it inside the
    ``write_transaction`` that routes them: another worker may triage them meanwhile."""
    placeholders = ", ".join("?" for _ in event_ids)
    rows = db.execute(f"SELECT id FROM events WHERE state = '{NEW}' AND id IN ({placeholders})", event_ids)
    return {row[0] for row in rows}


def fetch_event_body(db: Db, event_id: int, shop: str | None = None) -> bytes | None:
    """An event's raw body; with ``shop``, only when the event is that shop's."""
    if shop:
        sql, params = (
            "SELECT b.body FROM event_bodies b JOIN events e ON e.id = b.event_id WHERE b.event_id = ? AND e.shop = ?",
            [event_id, shop],
        )
    else:
        sql, params = "SELECT body FROM event_bodies WHERE event_id = ?", [event_id]
    row = db.execute(sql, params).fetchone()
    return bytes(row[0]) if row else None


def event_is_silent(db: Db, event_id: int) -> bool:
    """Whether the event came from a silent backfill/re-sync (``source = SILENT_SOURCE``)."""
    row = db.execute("SELECT source FROM events WHERE id = ?", [event_id]).fetchone()
    return bool(row) and row[0] == SILENT_SOURCE


def set_event_state(db: Db, event_id: int, state: EventState, reason: str | None = None, **fields: Any) -> None:
    """Record the outcome of triage or delivery for one event."""
    columns = {"state": state, "reason": reason, "processed_at": now_db(), **fields}
    assignments = ", ".join(f"{name} = ?" for name in columns)
    db.execute(f"UPDATE events SET {assignments} WHERE id = ?", [*columns.values(), event_id])


def settle_queued_events(
    db: Db,
    shop: str,
    order_id: str,
    state: EventState,
    up_to_event_id: int,
    part_kind: str | None = None,
    part_id: str | None = None,
    reason: str | None = None,
) -> None:
    """Close the queued events of one order (or one part of it) that a delivery covered (also
    those a skip closed, when the order is sent after all)."""
    if part_kind is None:
        where, params = "part_kind IS NULL", []
    else:
        where, params = "part_kind = ? AND part_id = ?", [part_kind, part_id]
    db.execute(
        f"UPDATE events SET state = ?, reason = ?, processed_at = ? "
        f"WHERE shop = ? AND order_id = ? AND state IN ('{QUEUED}', '{SKIPPED}') AND id <= ? AND {where}",
        [state, reason, now_db(), shop, order_id, up_to_event_id, *params],
    )


def shops_with_held_events(db: Db, shops: Iterable[str]) -> list[str]:
    """Which of ``shops`` have events kept aside: a read, so a start needs no write lock for it."""
    wanted = sorted(set(shops))
    if not wanted:
        return []
    placeholders = ", ".join("?" for _ in wanted)
    rows = db.execute(f"SELECT DISTINCT shop FROM events WHERE state = '{HELD}' AND shop IN ({placeholders})", wanted)
    return sorted(row[0] for row in rows.fetchall())


def release_held_events(db: Db, shop: str) -> int:
    """Send a shop's held events back to triage (the shop became known). Inside
    ``write_transaction``, after the shop was stored: it first waits for a triage batch in
    progress (the triage lock), which may have read the shops before this one was added and would
    otherwise mark its events held *after* this release, for good (PostgreSQL; on SQLite the
    write lock already orders them)."""
    db.dialect.serialize(db, TRIAGE_LOCK)
    cursor = db.execute(f"UPDATE events SET state = '{NEW}', reason = NULL WHERE shop = ? AND state = '{HELD}'", [shop])
    return cursor.rowcount


def count_events_by_state(db: Db) -> dict[str, int]:
    return {row["state"]: row["n"] for row in query_rows(db, "SELECT state, count(*) AS n FROM events GROUP BY state")}


def oldest_open_event_age_s(db: Db) -> float | None:
    """Seconds since the oldest event still waiting for triage or delivery was received.

    Not counted: the events of orders that wait for their shop (held: no tracking account yet,
    paused, refused credentials), that the merchant's options leave out (skipped), or whose
    fulfillments and refunds wait for an order body that never came (a lost orders/* webhook:
    fetched from Shopify or settled, :mod:`.missing_orders`) — nothing is wrong with delivery
    there; ``connector_orders{status="held"}`` and ``connector status`` show them.
    """
    row = db.execute(
        f"SELECT min(received_at) FROM events e WHERE e.state IN ('{NEW}', '{QUEUED}') AND NOT EXISTS ("
        "SELECT 1 FROM orders o WHERE o.shop = e.shop AND o.order_id = e.order_id "
        f"AND (o.status IN ('{SyncStatus.HELD}', '{SyncStatus.SKIPPED}') "
        "OR (o.newest_event_id IS NULL AND o.order_missing_since IS NOT NULL)))"
    ).fetchone()
    oldest = parse_iso(row[0]) if row and row[0] is not None else None
    return (utc_now() - oldest).total_seconds() if oldest else None


def list_events(db: Db, shop: str, order_id: str, limit: int = 50) -> Iterable[dict[str, Any]]:
    return query_rows(
        db,
        "SELECT id, topic, state, reason, received_at, resource_updated_at, source, part_kind, part_id "
        "FROM events WHERE shop = ? AND order_id = ? ORDER BY id DESC LIMIT ?",
        [shop, order_id, limit],
    )


def prune_events(db: Db, older_than_s: float, batch: int = 5000) -> int:
    """Delete finished and held events received more than ``older_than_s`` ago; returns how many.

    Kept whatever their age: events still open (new, queued, dead) and the newest body of each
    order and part, which later deliveries of that order still read. Held events (a shop that
    never installed the app) go like finished ones: a verified stranger must not fill the disk.
    Sync state is never pruned, so idempotency does not depend on old events. Each DELETE is
    complete on its own: called outside a transaction, every batch commits by itself and write
    locks stay short. The cut-off time is computed here, not by the database.
    """
    cutoff = db_time_in(-older_than_s)
    total = 0
    while True:
        deleted = _prune_event_batch(db, cutoff, batch)
        total += deleted
        if deleted < batch:
            break
    db.execute("DELETE FROM attempts WHERE started_at < ?", [cutoff])
    return total


def _prune_event_batch(db: Db, cutoff: str, batch: int) -> int:
    placeholders = ", ".join("?" for _ in PRUNABLE_EVENT_STATES)
    cursor = db.execute(
        f"""
        DELETE FROM events WHERE id IN (
            SELECT id FROM events
            WHERE state IN ({placeholders})
              AND received_at < ?
              AND id NOT IN (SELECT newest_event_id FROM orders WHERE newest_event_id IS NOT NULL)
              AND id NOT IN (SELECT newest_event_id FROM order_parts WHERE newest_event_id IS NOT NULL)
            LIMIT ?
        )
        """,
        [*PRUNABLE_EVENT_STATES, cutoff, batch],
    )
    return cursor.rowcount


def event_times(db: Db, event_id: int) -> tuple[str | None, str | None]:
    """(X-Shopify-Triggered-At, received_at) of one event; (None, None) when it is gone."""
    row = db.execute("SELECT triggered_at, received_at FROM events WHERE id = ?", [event_id]).fetchone()
    return (row[0], row[1]) if row else (None, None)
