"""Triage: fold newly stored events into per-order work, in one transaction per batch."""

from __future__ import annotations

import logging
from typing import Any

import sqlite_utils

from connector.lifecycle.handlers import HANDLERS as LIFECYCLE_HANDLERS
from connector.models import EventState
from connector.shopify.topics import PRIVACY_TOPICS
from connector.store import events as event_store
from connector.store import orders as order_store
from connector.store.db import write_transaction
from connector.store.shops import known_shops
from connector.worker.routing import Route, route_event

log = logging.getLogger(__name__)


def triage_new_events(db: sqlite_utils.Database, batch_size: int) -> int:
    """Route up to ``batch_size`` new events; returns how many were triaged."""
    rows = event_store.fetch_new_events(db, batch_size)
    if not rows:
        return 0
    routes = [(row, route_event(row["topic"], bytes(row["body"]), row["received_at"])) for row in rows]
    with write_transaction(db):
        # One triager at a time, on every host (SQLite: the write lock already; PostgreSQL: an
        # advisory lock held to the commit): triage is milliseconds per batch, and this keeps
        # "route each new event exactly once, in id order" as simple as on one host.
        db.dialect.serialize(db, "triage")
        # The rows were read outside the lock: another worker process may have triaged (and even
        # delivered) some of them since. Re-triaging one would set a delivered event back to
        # ``queued`` for good, so only events still ``new`` under the lock are routed here.
        still_new = event_store.still_new_event_ids(db, [row["id"] for row in rows])
        shops = known_shops(db)
        for row, route in routes:
            if row["id"] not in still_new:
                continue
            state, reason, fields = _apply(db, row, route, shops)
            event_store.set_event_state(db, row["id"], state, reason, **fields)
            if state in (EventState.INVALID, EventState.HELD):
                log.warning(
                    "event kept aside: %s", reason,
                    extra={"shop": row["shop"], "topic": row["topic"], "event": row["id"], "order_id": route.order_id},
                )
    if any(row["topic"] in PRIVACY_TOPICS for row in rows):
        # Redaction rewrote rows: SQLite moves the pages out of its WAL so old page images do
        # not linger there; PostgreSQL vacuums the dead row versions.
        db.dialect.after_redaction(db)
    return len(rows)


def _apply(
    db: sqlite_utils.Database, row: dict[str, Any], route: Route, shops: set[str]
) -> tuple[EventState, str | None, dict[str, Any]]:
    shop, event_id = row["shop"], row["id"]
    fields: dict[str, Any] = {"order_id": route.order_id, "resource_updated_at": route.updated_at}
    if route.action == "lifecycle":
        handler = LIFECYCLE_HANDLERS.get(row["topic"])
        if handler is None:
            return EventState.IGNORED, f"no handler for {row['topic']}", fields
        state, reason = handler(db, shop, route.body)
        return state, reason, fields
    if route.action in ("ignore", "invalid"):
        return (EventState.IGNORED if route.action == "ignore" else EventState.INVALID), route.reason, fields
    if shop not in shops:
        # Verified but from a shop that has not installed the app: keep, never deliver.
        return EventState.HELD, "shop is not installed or configured", fields
    assert route.order_id is not None
    if route.action == "delete":
        state, reason = order_store.queue_order_delete(db, shop, route.order_id)
    elif route.action == "snapshot":
        state, reason = order_store.queue_order_snapshot(
            db, shop, route.order_id, event_id, route.updated_at or "", silent=row.get("source") == event_store.SILENT_SOURCE,
            label=order_store.OrderLabel(route.name, route.number, route.placed_at),
        )
    else:
        fields.update(part_kind=route.part_kind, part_id=route.part_id)
        state, reason = order_store.queue_part(
            db, shop, route.order_id, route.part_kind or "", route.part_id or "", event_id, route.updated_at or ""
        )
    return state, reason, fields
