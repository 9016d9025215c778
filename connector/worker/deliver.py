"""Deliver one claimed order: its newest state, then its parts, then a deletion.

Each step commits on its own, so a crash between steps never repeats a finished one; a step
whose mapped payload hashes like the last delivered one is recorded as ``unchanged`` and not
sent at all.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from connector import json_bytes
from connector.accounts.options import ShopOptions, skip_reason
from connector.config import TARGET_SECRET_KEYS
from connector.errors import (
    AccountError,
    ConfigError,
    DeliveryError,
    MappingError,
    PermanentDeliveryError,
    TransientDeliveryError,
    WaitingError,
)
from connector.models import Attempt, AttemptOutcome, DeliveryResult, EventState
from connector.scrub import scrub_secrets
from connector.store import events as event_store
from connector.store import failures as failure_store
from connector.store import holds, missing_orders
from connector.store import orders as order_store
from connector.store import parts as part_store
from connector.store.db import STORE_ERRORS, Db, write_transaction
from connector.store.group_commit import commit_write
from connector.store.shop_settings import record_account_check
from connector.targets.base import RemoteItems, RemoteRef, SendResult, ShopContext, Target
from connector.timeutil import db_time_in, now_db, parse_iso, utc_now
from connector.worker.missing_order import missing_order_reason, wait_delay_s
from connector.worker.parsed_bodies import MISSING, ParsedBodies
from connector.worker.python_turn import PythonTurn
from connector.worker.retrying import RetryPolicy, call_with_retries, durable_delay_s

log = logging.getLogger(__name__)
T = TypeVar("T")
ALL_EVENTS = 2**63 - 1  # settle_queued_events bound covering every event id
STORE_RETRY_S = 30.0  # how long a finished step waits for a failing store before giving up


@dataclass(frozen=True)
class DeliveryOutcome:
    shop: str
    order_id: str
    result: DeliveryResult
    sent: int = 0
    reason: str | None = None


def target_secrets(settings: Any) -> tuple[str, ...]:
    """The secret values among a shop's target settings (a typed settings object or a mapping)."""
    if dataclasses.is_dataclass(settings):
        values = {f.name: getattr(settings, f.name) for f in dataclasses.fields(settings)}
    else:
        values = dict(settings or {})
    return tuple(str(v) for k, v in values.items() if k in TARGET_SECRET_KEYS and v)


def payload_hash(target_kind: str, what: str, payload: Any) -> str:
    """The digest of what would be sent: an unchanged payload is not sent again."""
    return hashlib.sha256(json_bytes.canonical([target_kind, what, payload])).hexdigest()


def dead_letter_order(db: Db, shop: str, order_id: str, owner: str, reason: str) -> DeliveryOutcome:
    """Dead-letter an order that cannot even start its delivery (reason scrubbed and bounded),
    while ``owner`` still holds its lease (fencing, as every recorded result)."""
    reason = scrub_secrets(reason)
    try:
        with write_transaction(db):
            order_store.hold_lease(db, shop, order_id, owner)
            failure_store.dead_letter(db, shop, order_id, reason, None)
    except order_store.LeaseLostError as exc:
        log.warning("lease lost, result not recorded: %s", exc, extra={"shop": shop, "order_id": order_id})
        return DeliveryOutcome(shop, order_id, DeliveryResult.LOST, 0, str(exc))
    log.error("delivery dead-lettered: %s", reason, extra={"shop": shop, "order_id": order_id})
    return DeliveryOutcome(shop, order_id, DeliveryResult.DEAD, 0, reason)


class OrderDelivery:
    """One delivery run for one leased order."""

    def __init__(
        self,
        db: Db,
        target: Target,
        ctx: ShopContext[Any],
        policy: RetryPolicy,
        worker_name: str,
        on_attempt: Callable[[str, float], None] | None = None,
        lease_s: float = 120.0,
        options: ShopOptions = ShopOptions(),
        account_recheck_s: float = 900.0,
        stop_event: threading.Event | None = None,
        parsed_bodies: ParsedBodies | None = None,
        python_turn: PythonTurn | None = None,
    ) -> None:
        self.db, self.target, self.ctx, self.policy = db, target, ctx, policy
        self.parsed_bodies = parsed_bodies  # what triage parsed (each body parsed once)
        self.stop_event = stop_event  # the worker is stopping: no more in-process retry waits
        self.python_turn = python_turn  # handed on while this delivery waits (connector.worker.python_turn)
        self.worker_name = worker_name
        self.lease_s = lease_s
        self.options, self.account_recheck_s = options, account_recheck_s
        self.on_attempt = on_attempt
        self.sent = 0
        self._attempts: list[Attempt] = []
        self._part_items: dict[tuple[str, str], RemoteItems] = {}  # parts sent but not yet recorded
        # The shop's own target credentials (per-shop accounts too): no error text may show them.
        self._secrets = target_secrets(ctx.settings)

    def run(self, work: order_store.OrderWork) -> DeliveryOutcome:
        try:
            return self._run(work)
        except order_store.LeaseLostError as exc:
            return self._lost(work, str(exc))

    def _run(self, work: order_store.OrderWork) -> DeliveryOutcome:
        try:
            order = self._load_json(work.latest_snapshot_event_id)
            skipped = skip_reason(order, self.options) if isinstance(order, dict) and not work.delete_pending else None
            if skipped:
                return self._skip(work, skipped)
            remote_id = work.remote_id
            steps = int(work.snapshot_event_id is not None) + len(work.parts) + int(work.delete_pending)
            if work.snapshot_event_id is not None:
                steps -= 1
                remote_id = self._deliver_snapshot(work, order, last=steps == 0) or remote_id
            for part in work.parts:
                steps -= 1
                self._deliver_part(work, part, order, remote_id, last=steps == 0)
            if work.delete_pending:
                self._send(
                    work,
                    "delete",
                    lambda: self.target.send_order_deleted(work.order_id, RemoteRef(remote_id), self.ctx),
                )

                def record_delete(db: Db) -> None:
                    order_store.record_delete_delivered(db, work.shop, work.order_id)
                    # The orders/delete event itself (and nothing newer can be queued for a
                    # deleted order: triage marks later snapshots stale).
                    event_store.settle_queued_events(db, work.shop, work.order_id, EventState.DELIVERED, ALL_EVENTS)

                self._step(work, True, record_delete)
            if not (work.snapshot_event_id is not None or work.parts or work.delete_pending):
                self._step(work, True)
            if self.sent:
                log.info("order delivered (%d request(s))", self.sent, extra=self._log_extra(work))
            result = DeliveryResult.DELIVERED if self.sent else DeliveryResult.UNCHANGED
            return DeliveryOutcome(work.shop, work.order_id, result, self.sent)
        except AccountError as exc:
            return self._hold_for_account(work, exc.reason)
        except PermanentDeliveryError as exc:
            return self._dead(work, exc.reason, exc.status)
        except ConfigError as exc:  # a missing base_url or credential: retrying cannot help
            return self._dead(work, f"configuration: {exc}", None)
        except WaitingError as exc:
            if work.latest_snapshot_event_id is None:  # a part whose order body never came
                return self._wait_for_order(work, self._clean(exc.reason))
            return self._reschedule(work, exc.reason, exc.retry_after)
        except TransientDeliveryError as exc:
            return self._reschedule(work, exc.reason, exc.retry_after)
        except order_store.LeaseLostError:
            raise  # fencing, not a bug: run() records it as lost
        except Exception as exc:  # a bug or an unexpected library error: retry, then dead-letter
            log.exception("unexpected error delivering order", extra=self._log_extra(work))
            return self._reschedule(work, f"internal error: {type(exc).__name__}: {exc}", None)

    def _clean(self, text: str) -> str:
        """An error text as it may be stored and logged: credentials out, bounded."""
        return scrub_secrets(text, self._secrets)

    def _step(
        self,
        work: order_store.OrderWork,
        last: bool,
        record: Callable[[Db], None] = lambda db: None,
        snapshot_record: bool = False,
    ) -> None:
        """One step's writes (``record``), the attempts made since the last step, and — after
        the last step — the end of the claim, all in one transaction (one commit per step), and
        only while we still hold the lease (fencing: ``orders.hold_lease``). A
        ``snapshot_record`` does both itself, in its first statement
        (``orders.record_snapshot_delivered`` with the owner, and ``finish`` when ``last``)."""

        def write(db: Db) -> None:
            if not snapshot_record:
                order_store.hold_lease(db, work.shop, work.order_id, self.worker_name)
            record(db)
            self._flush_attempts(db)
            if last:
                if not snapshot_record:
                    order_store.finish_success(db, work.shop, work.order_id)
                if work.open_failures:  # revived after a dead letter and now delivered: no person needed
                    failure_store.settle_delivered(db, work.shop, work.order_id)
            else:
                # A long delivery (many parts, slow target) must not lose its order to another worker.
                order_store.extend_lease(db, work.shop, work.order_id, self.worker_name, self.lease_s)

        self._durably(work, write)

    def _durably(self, work: order_store.OrderWork, write: Callable[[Db], None]) -> None:
        """Run ``write`` in one transaction. When the store fails meanwhile (a restarting server,
        a connection cut mid-transaction, a lock held too long), the transaction rolled back
        whole: wait and run it again, up to STORE_RETRY_S, so what the target already has is
        recorded rather than sent again after the lease expires. Not once the worker stops: a
        stop must not wait out a store that keeps failing, and the lease hands the order on."""
        deadline, delay = time.monotonic() + STORE_RETRY_S, 0.2
        with self._waiting():  # for the group commit, and between its tries
            while True:
                attempts = list(self._attempts)
                try:
                    commit_write(self.db, write)  # on SQLite, with other threads' steps (group commit)
                    return
                except STORE_ERRORS as exc:
                    self._attempts = attempts  # their INSERTs were rolled back too
                    stop = self.stop_event or threading.Event()  # a delivery outside a worker never stops
                    if time.monotonic() + delay > deadline or stop.is_set():
                        raise
                    log.warning("store failed while recording (%s); trying again", exc, extra=self._log_extra(work))
                    if stop.wait(delay):
                        raise
                    delay = min(delay * 2, 5.0)

    # -- steps --------------------------------------------------------------------------------
    def _deliver_snapshot(self, work: order_store.OrderWork, order: Any, last: bool) -> str | None:
        if work.snapshot_event_id is None or not isinstance(order, dict):
            # Erased or pruned under us: the same on every retry, so not a transient failure.
            raise MappingError(f"the order's stored body (event {work.snapshot_event_id}) is gone or not an object")
        event_id = work.snapshot_event_id
        payload = self._map(work, "order", lambda: self.target.map_order(order, self.ctx))
        digest = payload_hash(self.target.kind, "order", payload)
        if digest == work.payload_hash:
            self._record_unchanged(work, "order")

            def record_unchanged(db: Db) -> None:
                self._record_snapshot(db, work, event_id, digest, None, last)
                event_store.settle_queued_events(
                    db,
                    work.shop,
                    work.order_id,
                    EventState.UNCHANGED,
                    event_id,
                    reason="same payload as last delivered",
                )

            self._step(work, last, record_unchanged, snapshot_record=True)
            return None
        ref = RemoteRef(order_remote_id=work.remote_id)
        result = self._send(work, "order", lambda: self.target.send_order(payload, ref, self.ctx))

        def record_sent(db: Db) -> None:
            self._record_snapshot(db, work, event_id, digest, result.remote_id, last)
            event_store.settle_queued_events(db, work.shop, work.order_id, EventState.DELIVERED, event_id)

        self._step(work, last, record_sent, snapshot_record=True)
        return result.remote_id

    def _record_snapshot(
        self, db: Db, work: order_store.OrderWork, event_id: int, digest: str, remote_id: str | None, last: bool
    ) -> None:
        """A ``snapshot_record``'s first statement (see :meth:`_step`): fenced, and the claim's
        end when the snapshot is its last step."""
        order_store.record_snapshot_delivered(
            db,
            work.shop,
            work.order_id,
            event_id,
            work.snapshot_updated_at,
            digest,
            remote_id,
            owner=self.worker_name,
            finish=last,
        )

    def _deliver_part(
        self, work: order_store.OrderWork, part: order_store.PartWork, order: Any, remote_id: str | None, last: bool
    ) -> None:
        body = self._load_json(part.newest_event_id)
        what = f"{part.kind}:{part.part_id}"
        # Silence belongs to the event that carries this state, not to the order: a live
        # fulfillment after a silent re-sync of its order must still notify the customer.
        ctx = replace(self.ctx, silent=event_store.event_is_silent(self.db, part.newest_event_id))
        parent = order if isinstance(order, dict) else None
        payload = self._map(work, what, lambda: self.target.map_part(part.kind, body, parent, ctx))
        digest = payload_hash(self.target.kind, what, payload) if payload is not None else None
        state, result = EventState.UNCHANGED, None
        # What the part became at the target (Foxdeli: a parcel per tracking number), kept up to
        # date by the target as it sends and stored whatever ends this delivery.
        items = RemoteItems.decode(part.remote_items, part.remote_id)
        if payload is not None and digest != part.payload_hash:
            ref = RemoteRef(order_remote_id=remote_id, part_remote_id=part.remote_id, items=items)
            self._part_items[(part.kind, part.part_id)] = items
            # Without its order's body the part waits for a webhook or a fetch, minutes away:
            # retrying in-process would only hold a delivery thread (one attempt, then rescheduled).
            result = self._send(
                work,
                what,
                lambda: self.target.send_part(part.kind, payload, ref, ctx),
                retry_in_process=parent is not None,
            )
            state = EventState.DELIVERED
        else:
            self._record_unchanged(work, what)

        def record_part(db: Db) -> None:
            self._part_items.pop((part.kind, part.part_id), None)
            order_store.record_part_delivered(
                db,
                work.shop,
                part.kind,
                part.part_id,
                part.newest_event_id,
                part.newest_updated_at,
                digest,
                result.remote_id if result else None,
                items.encode() if items.changed else None,
            )
            event_store.settle_queued_events(
                db,
                work.shop,
                work.order_id,
                state,
                part.newest_event_id,
                part.kind,
                part.part_id,
                reason=None if state == EventState.DELIVERED else "nothing new for the target",
            )

        self._step(work, last, record_part)

    # -- helpers ------------------------------------------------------------------------------
    def _map(self, work: order_store.OrderWork, what: str, call: Callable[[], T]) -> T:
        """Run a (pure, deterministic) mapping. An unexpected exception there would recur on every
        retry, so it is a permanent failure with the reason kept, not a transient one retried
        for days; a fixed mapping plus ``connector replay`` delivers it later."""
        try:
            return call()
        except DeliveryError:
            raise
        except Exception as exc:
            log.exception("mapping %s failed", what, extra=self._log_extra(work))
            raise MappingError(self._clean(f"mapping {what} failed: {type(exc).__name__}: {exc}")) from exc

    def _load_json(self, event_id: int | None) -> Any:
        if event_id is None:
            return None
        raw = event_store.fetch_event_body(self.db, event_id)
        if raw is None:
            return None
        if self.parsed_bodies is not None:
            kept = self.parsed_bodies.take(event_id, raw)
            if kept is not MISSING:
                return kept
        try:
            return json_bytes.loads(raw)
        except Exception as exc:  # RecursionError, MemoryError…: it would fail the same on every retry
            raise MappingError(f"stored event {event_id} cannot be read: {type(exc).__name__}") from exc

    def _send(
        self, work: order_store.OrderWork, what: str, call: Callable[[], SendResult], retry_in_process: bool = True
    ) -> SendResult:
        def attempt() -> SendResult:
            started_at, started = now_db(), time.monotonic()
            try:
                result = call()
            except Exception as exc:
                outcome = AttemptOutcome.TRANSIENT if isinstance(exc, TransientDeliveryError) else AttemptOutcome.FAILED
                self._record(
                    work,
                    what,
                    outcome,
                    started_at,
                    started,
                    getattr(exc, "status", None),
                    self._clean(getattr(exc, "reason", None) or f"{type(exc).__name__}: {exc}"),
                )
                raise
            self._record(work, what, AttemptOutcome.DELIVERED, started_at, started, None, None)
            self.sent += 1
            return result

        policy = self.policy if retry_in_process else dataclasses.replace(self.policy, attempts=1)
        with self._waiting():  # on the target's answers and the back-off between them
            return call_with_retries(attempt, policy, stop_event=self.stop_event)

    def _waiting(self) -> AbstractContextManager[None]:
        """Around a wait: the turn to run Python goes to another delivery meanwhile."""
        return self.python_turn.handed_on() if self.python_turn is not None else nullcontext()

    def _record(
        self,
        work: order_store.OrderWork,
        what: str,
        outcome: AttemptOutcome,
        started_at: str,
        started: float,
        status: int | None,
        error: str | None,
    ) -> None:
        """Remember an attempt; it is written with the next step's (or failure's) transaction."""
        elapsed_ms = (time.monotonic() - started) * 1000
        self._attempts.append(
            Attempt(work.shop, work.order_id, what, outcome, started_at, elapsed_ms, self.worker_name, status, error)
        )
        if self.on_attempt:
            self.on_attempt(outcome, elapsed_ms / 1000)

    def _flush_attempts(self, db: Db) -> None:
        """Write the attempts made so far, and what parts that failed half-way did at the target."""
        for attempt in self._attempts:
            failure_store.record_attempt(db, attempt)
        self._attempts.clear()
        for (kind, part_id), items in self._part_items.items():
            if items.changed:
                shop = self.ctx.shop
                part_store.record_part_items(
                    db, shop, kind, part_id, ",".join(items.remote_ids()) or None, items.encode()
                )

    def _record_unchanged(self, work: order_store.OrderWork, what: str) -> None:
        self._record(work, what, AttemptOutcome.UNCHANGED, now_db(), time.monotonic(), None, None)

    def _reschedule(self, work: order_store.OrderWork, reason: str, retry_after: float | None) -> DeliveryOutcome:
        reason = self._clean(reason)
        since = parse_iso(order_store.failing_since(self.db, work.shop, work.order_id))
        failing_for = (utc_now() - since).total_seconds() if since else 0.0
        if failing_for >= self.policy.give_up_after_s:
            return self._dead(work, f"gave up after {failing_for:.0f}s of failures: {reason}", None)
        delay = durable_delay_s(work.attempts + 1, retry_after, self.policy)

        def reschedule(db: Db) -> None:
            order_store.hold_lease(db, work.shop, work.order_id, self.worker_name)
            self._flush_attempts(db)
            order_store.finish_transient(db, work.shop, work.order_id, reason, delay)

        self._durably(work, reschedule)
        log.warning("delivery failed, retrying in %.1fs: %s", delay, reason, extra=self._log_extra(work))
        return DeliveryOutcome(work.shop, work.order_id, DeliveryResult.RETRYING, self.sent, reason)

    def _wait_for_order(self, work: order_store.OrderWork, reason: str) -> DeliveryOutcome:
        """Wait for the order's body (the worker fetches it when it can), up to
        ``missing_order_give_up_s``; then dead-letter the order with what to do about it."""
        since, fetched_at = missing_orders.missing_since(self.db, work.shop, work.order_id)
        started = parse_iso(since)
        waited_s = (utc_now() - started).total_seconds() if started else 0.0
        if waited_s >= self.policy.missing_order_give_up_s:
            return self._dead(work, missing_order_reason(work.order_id, waited_s, fetched_at), None)
        delay = wait_delay_s(work.attempts + 1, waited_s, self.policy)

        def wait(db: Db) -> None:
            order_store.hold_lease(db, work.shop, work.order_id, self.worker_name)
            self._flush_attempts(db)
            missing_orders.mark_order_missing(db, work.shop, work.order_id)
            order_store.finish_transient(db, work.shop, work.order_id, reason, delay)

        self._durably(work, wait)
        log.info("waiting for the order's body, next look in %.1fs: %s", delay, reason, extra=self._log_extra(work))
        return DeliveryOutcome(work.shop, work.order_id, DeliveryResult.RETRYING, self.sent, reason)

    def _skip(self, work: order_store.OrderWork, reason: str) -> DeliveryOutcome:
        """The merchant's options leave this order state out: close its events, send nothing."""

        def skip(db: Db) -> None:
            order_store.hold_lease(db, work.shop, work.order_id, self.worker_name)
            self._flush_attempts(db)
            event_store.settle_queued_events(
                db, work.shop, work.order_id, EventState.SKIPPED, ALL_EVENTS, reason=reason
            )
            for part in work.parts:
                event_store.settle_queued_events(
                    db,
                    work.shop,
                    work.order_id,
                    EventState.SKIPPED,
                    ALL_EVENTS,
                    part.kind,
                    part.part_id,
                    reason=reason,
                )
            order_store.finish_skipped(db, work.shop, work.order_id, reason)

        self._durably(work, skip)
        log.info("order skipped: %s", reason, extra=self._log_extra(work))
        return DeliveryOutcome(work.shop, work.order_id, DeliveryResult.SKIPPED, self.sent, reason)

    def _hold_for_account(self, work: order_store.OrderWork, reason: str) -> DeliveryOutcome:
        """The shop's account refused its credentials: this order and the shop's others wait
        (not dead-lettered); the account shows the platform's reason until it is fixed."""
        reason = self._clean(reason)

        def hold(db: Db) -> None:
            order_store.hold_lease(db, work.shop, work.order_id, self.worker_name)
            self._flush_attempts(db)
            holds.hold_order(db, work.shop, work.order_id, reason)
            record_account_check(db, work.shop, False, reason, db_time_in(self.account_recheck_s))

        self._durably(work, hold)
        log.error(
            "tracking account refused: %s; the shop's deliveries wait until it is fixed",
            reason,
            extra=self._log_extra(work),
        )
        return DeliveryOutcome(work.shop, work.order_id, DeliveryResult.HELD, self.sent, reason)

    def _dead(self, work: order_store.OrderWork, reason: str, status: int | None) -> DeliveryOutcome:
        reason = self._clean(reason)

        def dead_letter(db: Db) -> None:
            order_store.hold_lease(db, work.shop, work.order_id, self.worker_name)
            self._flush_attempts(db)
            failure_store.dead_letter(db, work.shop, work.order_id, reason, status)

        self._durably(work, dead_letter)
        log.error("delivery dead-lettered: %s", reason, extra=self._log_extra(work))
        return DeliveryOutcome(work.shop, work.order_id, DeliveryResult.DEAD, self.sent, reason)

    def _lost(self, work: order_store.OrderWork, reason: str) -> DeliveryOutcome:
        """Our lease lapsed and another worker owns the order now: its results stand, ours are
        not recorded. The attempts we made are history all the same."""
        self._durably(work, self._flush_attempts)
        log.warning("lease lost, result not recorded: %s", reason, extra=self._log_extra(work))
        return DeliveryOutcome(work.shop, work.order_id, DeliveryResult.LOST, self.sent, reason)

    @staticmethod
    def _log_extra(work: order_store.OrderWork) -> dict[str, Any]:
        # The event carrying the state being delivered (or the newest known one), so a log line
        # can be joined with /admin/orders/<shop>/<id> and the events table.
        return {
            "shop": work.shop,
            "order_id": work.order_id,
            "event": work.snapshot_event_id or work.latest_snapshot_event_id,
        }
