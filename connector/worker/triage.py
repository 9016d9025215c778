"""Triage: fold newly stored events into per-order work; act on the app's own webhooks.

Runs of order events are folded in one transaction; each lifecycle event (uninstall, scopes,
privacy) gets a transaction of its own, in arrival order, so that what one of them changes (a
``shop/redact`` erasing the shop) is seen by every event after it.

No event can stop triage for the others. Whatever goes wrong with one — a body that makes the
parser or a handler raise (``RecursionError``, ``MemoryError``, a bug) — ends in that event's
``invalid`` state with the reason, its own writes undone by a savepoint. Only a failure of the
store itself (locked, full, read-only: :func:`~connector.store.db.is_storage_failure`) goes up
to the worker loop, which waits and tries again: nothing is lost either way.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import replace
from functools import partial
from typing import Any

from connector.lifecycle.handlers import HANDLERS as LIFECYCLE_HANDLERS
from connector.lifecycle.handlers import prepare_lifecycle
from connector.models import EventState
from connector.shopify.topics import LIFECYCLE_TOPICS, PRIVACY_TOPICS
from connector.store import events as event_store
from connector.store import orders as order_store
from connector.store.db import Db, is_storage_failure, savepoint, write_transaction
from connector.store.shops import known_shops
from connector.worker.parsed_bodies import ParsedBodies
from connector.worker.routing import Delivery, Route, RoutingRules, route_event

log = logging.getLogger(__name__)
Routed = tuple[dict[str, Any], Route]
Pending = tuple[dict[str, Any], Route | None]  # an event, routed now or under the triage lock
KEPT_ASIDE = (EventState.INVALID, EventState.HELD, EventState.SUSPECT)
MAX_REASON = 500
FOLDING = ("snapshot", "delete", "part")  # the routes that fold into an order's sync state


def triage_new_events(
    db: Db,
    batch_size: int,
    rules: RoutingRules | None = None,
    *,
    wait: bool = True,
    budget_s: float | None = None,
    parsed: ParsedBodies | None = None,
) -> int:
    """Route up to ``batch_size`` new events; returns how many were looked at. With ``wait``
    false, a pass that finds another worker process triaging (PostgreSQL) ends at once instead of
    waiting for it: those events are the other's, and this worker can deliver meanwhile. With
    ``budget_s``, a SQLite pass stops routing once that long has passed (at least one event is
    routed) and folds what it routed: the rest waits for the next pass. With ``parsed``, the
    bodies of the snapshots and parts routed are kept there for their deliveries."""
    rules = rules or RoutingRules()
    route_safely = partial(_route_safely, parsed=parsed)
    if not wait and db.dialect.busy(db, event_store.TRIAGE_LOCK):
        return 0  # (checked first: reading the batch again on every pass meanwhile costs more)
    rows = event_store.fetch_new_events(db, batch_size)
    if not rows:
        return 0
    # SQLite: each event is routed (its body parsed) before the write lock is taken, since intake
    # waits for that lock. PostgreSQL: under the triage lock, once the events another worker
    # process triaged meanwhile are dropped; routed before it, every process would parse every
    # new event, and N worker processes would do N times the work.
    early = db.dialect.global_write_lock
    run: list[Pending] = []
    deadline = None if budget_s is None or not early else time.monotonic() + budget_s
    for looked_at, row in enumerate(rows):
        if deadline is not None and looked_at and time.monotonic() >= deadline:
            rows = rows[:looked_at]
            break
        # A lifecycle topic is routed now: only a body that passed its checks (action
        # "lifecycle") is acted on; a suspect one (another shop's, an order's) folds as any other.
        route = route_safely(db, row, rules) if early or row["topic"] in LIFECYCLE_TOPICS else None
        if route is None or route.action != "lifecycle":
            run.append((row, route))
            continue
        if not _fold(db, run, rules, wait, route_safely):
            return looked_at - len(run)
        run = []
        _act(db, row, route)
    if not _fold(db, run, rules, wait, route_safely):
        return len(rows) - len(run)
    if any(row["topic"] in PRIVACY_TOPICS for row in rows):
        # shop/redact deleted rows: SQLite moves the pages out of its WAL so old page images do
        # not linger there; PostgreSQL vacuums the dead row versions.
        db.dialect.after_redaction(db)
    return len(rows)


def _route_safely(db: Db, row: dict[str, Any], rules: RoutingRules, parsed: ParsedBodies | None = None) -> Route:
    """The event's route; a body that breaks routing is ``invalid`` with the reason."""
    raw = event_store.fetch_event_body(db, row["id"])
    if raw is None:  # erased meanwhile (shop/redact)
        return Route("ignore", reason="event no longer stored")
    try:
        delivery = Delivery(
            shop=row["shop"], triggered_at=row.get("triggered_at"), source=row.get("source") or "webhook"
        )
        route = route_event(row["topic"], raw, row["received_at"], rules, delivery)
    except Exception as exc:  # noqa: BLE001 - one event's body must never stop triage
        return Route("invalid", reason=_internal_error("routing", exc))
    if route.parsed is not None:
        if parsed is not None:
            parsed.keep(row["id"], raw, route.parsed)
        # A batch holds its routes until folded: not their documents (up to 500 bodies of 5 MB).
        route = replace(route, parsed=None)
    return route


def _fold(
    db: Db, run: list[Pending], rules: RoutingRules, wait: bool, route_safely: Callable[..., Route] = _route_safely
) -> bool:
    """Order events in one transaction, folded in one savepoint (:func:`_settle_run`; routed
    here when not yet). False: another triager holds the lock and ``wait`` is false; nothing was
    done."""
    if not run:
        return True
    with write_transaction(db):
        if not _one_triager(db, wait):
            return False
        # The rows were read outside the lock: another worker process may have triaged (and even
        # delivered) some of them since. Re-triaging one would set a delivered event back to
        # ``queued`` for good, so only events still ``new`` under the lock are routed here.
        still_new = event_store.still_new_event_ids(db, [row["id"] for row, _ in run])
        routed = [(row, route or route_safely(db, row, rules)) for row, route in run if row["id"] in still_new]
        shops = known_shops(db)
        _lock_in_key_order(db, [(row, route) for row, route in routed if row["shop"] in shops])
        _settle_run(db, routed, shops)
        if routed:
            db.dialect.notify_workers(db)  # orders may be due now: idle workers on other hosts claim them
    return True


def _act(db: Db, row: dict[str, Any], route: Route) -> None:
    """One lifecycle event: its slow preparation (batched erasure), then its own transaction."""
    handler = LIFECYCLE_HANDLERS.get(row["topic"])
    try:
        prepare_lifecycle(db, row["topic"], row["shop"], route.body)
    except Exception as exc:  # a poison body ends in its event, not in the loop
        if is_storage_failure(exc):
            raise
        route = Route("invalid", reason=_internal_error(row["topic"], exc))
    with write_transaction(db):
        _one_triager(db)
        if row["id"] not in event_store.still_new_event_ids(db, [row["id"]]):
            return
        if handler is None or route.action != "lifecycle":
            _settle(db, row, route, lambda: _apply(db, row, route, set()))
            return
        _settle(db, row, route, lambda: (*handler(db, row["shop"], route.body, row["id"]), {}))


def _one_triager(db: Db, wait: bool = True) -> bool:
    """One triager at a time, on every host (SQLite: the write lock already; PostgreSQL: an
    advisory lock held to the commit): each transaction is milliseconds, and this keeps "route
    each new event exactly once, in id order" as simple as on one host. Measured against row
    locks that let two triagers run side by side (bench/triage.py): no faster on two cores,
    since their batches share orders and queue on them anyway. False: another holds it and
    ``wait`` is false."""
    if not wait:
        return db.dialect.try_serialize(db, event_store.TRIAGE_LOCK)
    db.dialect.serialize(db, event_store.TRIAGE_LOCK)
    return True


def _lock_in_key_order(db: Db, run: list[Routed]) -> None:
    """Create-if-missing and lock every order, then every part, the batch folds into, each in
    key order (PostgreSQL; SQLite's write lock already covers them). Events come in arrival
    order; locked one by one in that order, a batch could deadlock with a many-row update that
    locks the same orders in key order (releasing held orders, a merchant's retry, a replay)."""
    if not db.dialect.lock():
        return
    orders = sorted({(row["shop"], route.order_id) for row, route in run if route.order_id and route.action in FOLDING})
    parts = sorted(
        {
            (row["shop"], route.part_kind, route.part_id, route.order_id)
            for row, route in run
            if route.action == "part"
            and route.part_kind
            and route.part_id
            and route.order_id  # a part route has all three
        }
    )
    order_store.lock_orders(db, orders)
    order_store.lock_parts(db, parts)


def _settle_run(db: Db, routed: list[Routed], shops: set[str]) -> None:
    """Fold and settle a run of order events, all in one savepoint: two statements fewer per
    event than a savepoint each (~20 statements take an order through the worker). An event
    that raises (a poison body, a bug; rare) undoes the savepoint, and the run is settled again
    event by event (:func:`_settle`), so that one ends ``invalid`` and the others as they would."""
    settled: list[tuple[dict[str, Any], Route, EventState, str | None]] = []
    try:
        with savepoint(db, "triage_run"):
            for row, route in routed:
                state, reason, fields = _apply(db, row, route, shops)
                event_store.set_event_state(db, row["id"], state, reason, **fields)
                settled.append((row, route, state, reason))
    except Exception as exc:
        if is_storage_failure(exc):
            raise
        for row, route in routed:
            _settle(db, row, route, partial(_apply, db, row, route, shops))
        return
    for row, route, state, reason in settled:  # logged once the run is through, not twice
        _warn_if_kept_aside(row, route, state, reason)


def _settle(
    db: Db,
    row: dict[str, Any],
    route: Route,
    apply: Callable[[], tuple[EventState, str | None, dict[str, Any]]],
) -> None:
    """Run ``apply`` in a savepoint and record the event's new state; a poison event is
    ``invalid`` with the reason (its own writes undone), a storage failure goes up."""
    try:
        with savepoint(db, "triage_event"):
            state, reason, fields = apply()
    except Exception as exc:  # see the module docstring
        if is_storage_failure(exc):
            raise
        log.exception("event could not be triaged", extra=_extra(row, route))
        state, reason, fields = EventState.INVALID, _internal_error("triage", exc), {}
    event_store.set_event_state(db, row["id"], state, reason, **fields)
    _warn_if_kept_aside(row, route, state, reason)


def _warn_if_kept_aside(row: dict[str, Any], route: Route, state: EventState, reason: str | None) -> None:
    if state in KEPT_ASIDE:
        log.warning("event kept aside (%s): %s", state, reason, extra=_extra(row, route))


def _apply(db: Db, row: dict[str, Any], route: Route, shops: set[str]) -> tuple[EventState, str | None, dict[str, Any]]:
    shop, event_id = row["shop"], row["id"]
    fields: dict[str, Any] = {"order_id": route.order_id, "resource_updated_at": route.updated_at}
    if route.action == "lifecycle":
        return EventState.IGNORED, f"no handler for {row['topic']}", fields
    if route.action in ("ignore", "invalid", "suspect"):
        state = {"ignore": EventState.IGNORED, "invalid": EventState.INVALID, "suspect": EventState.SUSPECT}[
            route.action
        ]
        return state, route.reason, fields
    if shop not in shops:
        # Verified but from a shop that has not installed the app: keep, never deliver.
        return EventState.HELD, "shop is not installed or configured", fields
    if route.order_id is None:
        raise ValueError(f"route {route.action} without an order id")
    if route.action == "delete":
        state, reason = order_store.queue_order_delete(db, shop, route.order_id)
    elif route.action == "snapshot":
        state, reason = order_store.queue_order_snapshot(
            db,
            shop,
            route.order_id,
            event_id,
            route.updated_at or "",
            silent=row.get("source") == event_store.SILENT_SOURCE,
            label=order_store.OrderLabel(route.name, route.number, route.placed_at),
        )
    else:
        fields.update(part_kind=route.part_kind, part_id=route.part_id)
        state, reason = order_store.queue_part(
            db, shop, route.order_id, route.part_kind or "", route.part_id or "", event_id, route.updated_at or ""
        )
    return state, reason, fields


def _internal_error(where: str, exc: BaseException) -> str:
    return f"internal error in {where}: {type(exc).__name__}: {str(exc)[:300]}"[:MAX_REASON]


def _extra(row: dict[str, Any], route: Route) -> dict[str, Any]:
    return {"shop": row["shop"], "topic": row["topic"], "event": row["id"], "order_id": route.order_id}
