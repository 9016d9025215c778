"""``customers/redact``, honoured in short steps that survive a dying worker.

Redacting a customer over thousands of stored orders inside one transaction held SQLite's write
lock for ~113 s (every other shop's webhooks got 503) and grew the worker to 1.5 GB. Now triage
only records the request (:func:`start_customer_redaction`, the event becomes ``redacting``) and
the worker runs it in steps between its other work (:func:`run_redaction_steps`):

``find``      read the shop's events in batches of :data:`READ_BATCH` (no lock held) for those
              that name the customer; with the orders the request lists, these are their orders;
``enrich``    read those orders' bodies (through the events-by-order index) for the emails and
              phones they were placed with;
``events``    batch by batch again: rewrite the customer's events without personal data, each
              batch in one short transaction;
``payloads``  the same for recorded payloads, ``texts`` for error texts; then the request's own
              contact data goes, the event becomes ``handled`` with what was done.

Each step commits its writes together with the progress (phase, cursor, what was found) in the
``redactions`` row, under the worker's lease on it: a worker that dies mid-way leaves the lease
to expire and the next one resumes after the last committed step. Only events stored before the
request are part of it (``until_id``). The progress row holds personal data while it lives and
is deleted (``secure_delete``) at the end.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from connector.lifecycle.customer_data import (
    event_order,
    is_customers_event,
    parse_stored,
    redacted_body,
    redacted_payload,
    scrubbed_text,
)
from connector.lifecycle.redaction import Identifiers, mentions
from connector.models import EventState
from connector.shopify.ids import shopify_id
from connector.store import events as event_store
from connector.store import privacy as privacy_store
from connector.store.db import Db, write_transaction
from connector.timeutil import db_time_in

log = logging.getLogger(__name__)
READ_BATCH = 200  # events read per step: bounded memory, and each write transaction stays short
ORDERS_PER_QUERY = 500
TEXT_TABLES = tuple(table for table, _, _ in privacy_store.ERROR_TEXT_COLUMNS)


class LeaseLostError(Exception):
    """Another worker took the redaction over (or shop/redact erased it): stop, undo this step."""


@dataclass
class Progress:
    """What a redaction has found and done so far (kept as JSON in its ``redactions`` row)."""

    customer_id: str | None = None
    emails: list[str] = field(default_factory=list)
    phones: list[str] = field(default_factory=list)
    orders: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    events: int = 0
    payloads: int = 0
    texts: int = 0
    text_table: int = 0  # index into TEXT_TABLES during the texts phase
    text_after: Any = None  # the last row key done in that table (an id or an order id)

    def ids(self) -> Identifiers:
        return Identifiers(self.customer_id, set(self.emails), set(self.phones))

    def keep(self, ids: Identifiers, orders: set[str], removed: set[str]) -> None:
        self.emails, self.phones = sorted(ids.emails), sorted(ids.phones)
        self.orders, self.removed = sorted(orders), sorted(removed)

    def summary(self) -> str:
        return (
            f"redacted {self.events} events, {self.payloads} sent payloads and {self.texts} error texts "
            f"of {len(self.orders)} orders"
        )


@dataclass
class Job:
    event_id: int
    shop: str
    phase: str
    cursor: int
    until_id: int
    progress: Progress

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Job:
        return cls(
            row["event_id"],
            row["shop"],
            row["phase"],
            row["cursor"],
            row["until_id"],
            Progress(**json.loads(row["state"])),
        )


# -- triage: record the request ----------------------------------------------------------------
def start_customer_redaction(db: Db, shop: str, body: Any, event_id: int) -> tuple[EventState, str | None]:
    """The ``customers/redact`` handler: record the request. Inside the event's transaction."""
    if not isinstance(body, dict):
        return EventState.INVALID, "customers/redact body is not a JSON object"
    ids = Identifiers.from_request(body)
    listed = body.get("orders_to_redact")
    order_ids = {oid for oid in map(shopify_id, listed if isinstance(listed, list) else []) if oid}
    if not (ids.customer_id or ids.emails or ids.phones or order_ids):
        return EventState.INVALID, "customers/redact names no customer and no orders"
    progress = Progress(customer_id=ids.customer_id)
    progress.keep(ids, order_ids, set())
    state = json.dumps(asdict(progress))
    privacy_store.create_redaction(db, event_id, shop, privacy_store.last_event_id(db, shop), "find", state)
    return EventState.REDACTING, "redaction under way"


# -- the worker: run steps ---------------------------------------------------------------------
def run_redaction_steps(db: Db, owner: str, lease_s: float, budget_s: float) -> int:
    """Run steps of the oldest redaction for up to ``budget_s``; returns how many steps ran."""
    row = privacy_store.claim_redaction(db, owner, db_time_in(lease_s))
    if row is None:
        return 0
    job, steps = Job.from_row(row), 0
    deadline = time.monotonic() + budget_s
    try:
        while True:
            steps += 1
            if STEPS[job.phase](db, job, owner, lease_s) or time.monotonic() >= deadline:
                return steps
    except LeaseLostError:
        log.warning("redaction taken over or erased; stopping", extra={"shop": job.shop, "event": job.event_id})
        return steps


def _save(db: Db, job: Job, owner: str, lease_s: float) -> None:
    """Commit the step's progress with its writes (we are inside its transaction)."""
    state = json.dumps(asdict(job.progress))
    if not privacy_store.save_redaction(db, job.event_id, owner, job.phase, job.cursor, state, db_time_in(lease_s)):
        raise LeaseLostError(job.event_id)


def _advance(job: Job, rows: list[Any], next_phase: str, cursor_of: Callable[[Any], int]) -> None:
    if len(rows) < READ_BATCH:
        job.phase, job.cursor = next_phase, 0
    else:
        job.cursor = cursor_of(rows[-1])


def _step_find(db: Db, job: Job, owner: str, lease_s: float) -> bool:
    rows = privacy_store.events_after(db, job.shop, job.cursor, job.until_id, READ_BATCH)
    ids, orders = job.progress.ids(), set(job.progress.orders)
    for row in rows:
        doc = parse_stored(row["body"])
        oid = event_order(row, doc)
        if oid and doc is not None and mentions(doc, ids):
            orders.add(oid)
    job.progress.orders = sorted(orders)
    _advance(job, rows, "enrich", lambda row: row["id"])
    with write_transaction(db):
        _save(db, job, owner, lease_s)
    return False


def _step_enrich(db: Db, job: Job, owner: str, lease_s: float) -> bool:
    """The customer's orders add the contact details they were placed with (a fulfillment that
    carries only the order's email is found by it then)."""
    ids, orders = job.progress.ids(), job.progress.orders
    for start in range(0, len(orders), ORDERS_PER_QUERY):
        for row in privacy_store.order_events(db, job.shop, orders[start : start + ORDERS_PER_QUERY], job.until_id):
            ids.add_from_order(parse_stored(row["body"]))
    job.progress.keep(ids, set(orders), set(job.progress.removed))
    job.phase, job.cursor = "events", 0
    with write_transaction(db):
        _save(db, job, owner, lease_s)
    return False


def _step_events(db: Db, job: Job, owner: str, lease_s: float) -> bool:
    rows = privacy_store.events_after(db, job.shop, job.cursor, job.until_id, READ_BATCH)
    ids, orders, removed = job.progress.ids(), set(job.progress.orders), set(job.progress.removed)
    rewrites = []
    for row in rows:
        doc = parse_stored(row["body"])
        if is_customers_event(row, doc, ids, orders):
            body = redacted_body(row, doc, ids, removed)
            if body is not None:
                rewrites.append((row["id"], body))
    job.progress.keep(ids, orders, removed)
    job.progress.events += len(rewrites)
    _advance(job, rows, "payloads", lambda row: row["id"])
    _rewrite(db, job, owner, lease_s, rewrites, privacy_store.set_event_body)
    return False


def _step_payloads(db: Db, job: Job, owner: str, lease_s: float) -> bool:
    rows = privacy_store.payloads_after(db, job.shop, job.cursor, READ_BATCH)
    ids, orders, removed = job.progress.ids(), set(job.progress.orders), set(job.progress.removed)
    rewrites = [(row["id"], text) for row in rows if (text := redacted_payload(row, orders, ids, removed)) is not None]
    job.progress.payloads += len(rewrites)
    _advance(job, rows, "texts", lambda row: row["id"])
    _rewrite(db, job, owner, lease_s, rewrites, privacy_store.set_payload)
    return False


def _rewrite(
    db: Db,
    job: Job,
    owner: str,
    lease_s: float,
    rewrites: list[tuple[int, Any]],
    store_one: Callable[[Db, int, Any], None],
) -> None:
    """One step's rewrites and the job's progress in one short transaction, freed space zeroed."""
    with privacy_store.secure_delete(db), write_transaction(db):
        for row_id, value in rewrites:
            store_one(db, row_id, value)
        _save(db, job, owner, lease_s)


def _step_texts(db: Db, job: Job, owner: str, lease_s: float) -> bool:
    """Error texts may quote what a target refused (an email, an address)."""
    if job.progress.text_table >= len(TEXT_TABLES):
        return _finish(db, job, owner)
    table = TEXT_TABLES[job.progress.text_table]
    rows = privacy_store.error_texts_after(db, job.shop, table, job.progress.text_after, READ_BATCH)
    ids, removed = job.progress.ids(), set(job.progress.removed)
    rewrites = [(key, clean) for key, text in rows if (clean := scrubbed_text(text, ids, removed)) is not None]
    job.progress.texts += len(rewrites)
    if len(rows) < READ_BATCH:
        job.progress.text_table, job.progress.text_after = job.progress.text_table + 1, None
    else:
        job.progress.text_after = rows[-1][0]
    with privacy_store.secure_delete(db), write_transaction(db):
        for key, clean in rewrites:
            privacy_store.set_error_text(db, job.shop, table, key, clean)
        _save(db, job, owner, lease_s)
    return False


def _finish(db: Db, job: Job, owner: str) -> bool:
    """The request's own contact data goes, the event says what was done, the progress row goes."""
    ids = job.progress.ids()
    summary = job.progress.summary()
    with privacy_store.secure_delete(db), write_transaction(db):
        if not privacy_store.delete_redaction(db, job.event_id, owner):
            raise LeaseLostError(job.event_id)
        privacy_store.forget_request_contact(db, job.shop, ids.customer_id, ids.emails)
        event_store.set_event_state(db, job.event_id, EventState.HANDLED, summary)
    db.dialect.after_redaction(db)  # SQLite: old page images leave the WAL; PostgreSQL: vacuum
    log.info("customer redacted: %s", summary, extra={"shop": job.shop, "event": job.event_id})
    return True


STEPS: dict[str, Callable[[Db, Job, str, float], bool]] = {
    "find": _step_find,
    "enrich": _step_enrich,
    "events": _step_events,
    "payloads": _step_payloads,
    "texts": _step_texts,
}
