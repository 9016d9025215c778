"""The worker process: triage new events, lease due orders, deliver them on a thread pool.

Two worker processes, on one host or several, never deliver the same order at once: an order is
leased in the store (``lease_owner``/``lease_until``), a crashed worker's lease simply expires,
and a worker whose lease was taken over records nothing (fencing). On PostgreSQL an idle worker
is woken by new events (``LISTEN``); the poll interval stays the fallback.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from connector import metrics
from connector.accounts.profile import ShopProfile
from connector.config import Settings
from connector.errors import StorageError
from connector.lifecycle.customer_redaction import run_redaction_steps
from connector.models import DeliveryResult
from connector.scrub import remember_secrets
from connector.store import holds
from connector.store import orders as order_store
from connector.store.checkpoints import leave_checkpoints_to_a_thread
from connector.store.db import (
    STORE_ERRORS,
    Db,
    Listener,
    SqliteDb,
    db_for,
    is_storage_failure,
    location_of,
    redact_url,
    write_transaction,
)
from connector.store.dry_run import record_dry_run
from connector.store.events import prune_events, release_held_events, shops_with_held_events
from connector.store.journal import FILE_EVERY_S, file_journals
from connector.store.migrations import migrate
from connector.store.shops import sync_config_shops
from connector.targets.base import ShopContext, Target
from connector.targets.registry import build_target
from connector.timeutil import now_db
from connector.worker.deliver import DeliveryOutcome, OrderDelivery, dead_letter_order
from connector.worker.parsed_bodies import ParsedBodies
from connector.worker.profiles import ProfileCache
from connector.worker.python_turn import PythonTurn
from connector.worker.reload import SettingsWatcher
from connector.worker.renewals import TokenRenewals
from connector.worker.retrying import RetryPolicy
from connector.worker.routing import RoutingRules
from connector.worker.slots import DeliverySlots
from connector.worker.triage import triage_new_events

if TYPE_CHECKING:  # the scheduler (and Shopify's Admin API client) load only for continuous runs
    from connector.resync.scheduler import JobScheduler

log = logging.getLogger(__name__)
PRUNE_EVERY_S = 600.0
REDACTION_SLICE_S = 0.25  # of redaction steps per pass (each step commits in a few milliseconds)
ONCE_STORE_TRIES = 3  # `worker --once` against a failing store: a few tries, then one line and exit
RECENT_OUTCOMES = 1000
# While deliveries run, a triage pass routes new events for at most this long: the loop leases
# more orders only between passes, and the orders leased ahead last ~30 ms at 250 orders/s; a
# pass over a backlog (500 bodies parsed) kept the loop away ~0.3 s (bench/deliver.py).
TRIAGE_SLICE_S = 0.01
TRIAGE_SLICE_EVENTS = 64  # read per such pass (~0.3 ms to route each): not the whole batch again
# Likewise for filing the intake journal: a 1 MB batch (~120 webhooks) takes ~12 ms.
JOURNAL_SLICE_BYTES = 1024 * 1024
PARK_EVERY_S = 1.0  # blocked shops' due orders parked at least this often while claims come back full
OrderKey = tuple[str, str]


@dataclass
class WorkerStats:
    filed: int = 0  # webhooks moved from the intake journal into the events table
    triaged: int = 0
    delivered: int = 0
    unchanged: int = 0
    retrying: int = 0
    dead: int = 0
    held: int = 0  # the shop's account refused its credentials, or it has none any more
    skipped: int = 0  # left out by the merchant's options
    lost: int = 0  # deliveries whose lease another worker took over: nothing recorded
    storage_errors: int = 0
    loop_errors: int = 0  # bugs caught by the loop (each logged with its traceback)
    # The most recent outcomes only: a long-running worker must not keep one per delivery
    # (the soak saw its RSS climb ~0.9 MB per 3,000 deliveries).
    outcomes: deque[DeliveryOutcome] = field(default_factory=lambda: deque(maxlen=RECENT_OUTCOMES))

    def add(self, outcome: DeliveryOutcome) -> None:
        setattr(self, outcome.result, getattr(self, outcome.result) + 1)
        self.outcomes.append(outcome)


class Worker:
    """Delivers queued events until stopped (or, with ``once``, until nothing is due)."""

    _metrics_started: ClassVar[bool] = False  # one metrics server per process, however many workers

    def __init__(
        self,
        settings: Settings,
        name: str | None = None,
        on_attempt: Callable[[str, float], None] | None = None,
        watcher: SettingsWatcher | None = None,
    ) -> None:
        self.name = name or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.stop_event = threading.Event()
        self.stats = WorkerStats()
        self.parsed_bodies = ParsedBodies()  # triage's parses, for the deliveries that follow
        self.python_turn = PythonTurn()  # one delivery thread at a time runs its Python (SQLite)
        self.on_attempt = self._with_metrics(on_attempt)
        self._targets_lock = threading.Lock()
        self.jobs: JobScheduler | None = None  # when running continuously
        self.watcher = watcher  # the config file, re-read when it changes (`connector worker`)
        self._next_park = 0.0  # see _claim
        self._next_filing = 0.0  # see _file_journals
        self._slots: DeliverySlots[OrderKey, DeliveryOutcome] | None = None  # while run() runs
        self._apply(settings)

    def _apply(self, settings: Settings) -> None:
        """Take ``settings`` into use: at start, and when the config file changed. Deliveries in
        flight finish with what they started with; the next ones use the new settings."""
        self.settings = settings
        # Delivery errors and log lines hide these wherever a target echoes one back.
        remember_secrets(settings.secret_values())
        metrics.label_shops(settings["metrics.shop_labels"])
        self.policy = RetryPolicy.from_settings(settings)
        self.rules = RoutingRules.from_settings(settings)
        self._shop_targets: dict[str, tuple[ShopProfile, Any]] = {}
        # Targets are built afresh under the new settings; deliveries in flight keep theirs.
        self._targets: dict[str, Target] = {}
        self.scope = holds.DeliveryScope(settings.operator_assigned_shops(), settings["target.all_shops"])
        # Accounts change in the app while we run: re-read at most one poll interval later.
        self.profiles = ProfileCache(settings, self._db, ttl_s=settings["worker.poll_interval_s"])
        if self.jobs is not None:
            self.jobs.settings = settings

    def _reload(self) -> None:
        """The config file changed: new settings, its shops known, every held order judged afresh
        (a replay after fixing the target's configuration works without a restart)."""
        changed = self.watcher.poll() if self.watcher is not None else None
        if changed is None:
            return
        self._apply(changed)
        self._know_config_shops()
        self.profiles.restart()

    def _know_config_shops(self) -> None:
        """The [shops."…"] entries are known shops; what they sent while unknown goes to triage.
        Both write only when there is something to change: a start needs no write lock."""
        db = self._db()
        sync_config_shops(db, self.settings.shops)
        held = shops_with_held_events(db, self.settings.shops)
        if held:
            with write_transaction(db):
                for shop in held:
                    release_held_events(db, shop)

    @staticmethod
    def _with_metrics(callback: Callable[[str, float], None] | None) -> Callable[[str, float], None]:
        """Every attempt feeds the delivery counters and latency histogram, then ``callback``."""

        def on_attempt(outcome: str, seconds: float) -> None:
            metrics.record_delivery_attempt(outcome, seconds)
            if callback is not None:
                callback(outcome, seconds)

        return on_attempt

    def _db(self) -> Db:
        db = db_for(self.settings)
        # Inline, the commit that fills the WAL copies it back and fsyncs while the delivery
        # threads queue behind that group commit (bench/deliver.py, A/B: 212 vs 182 orders/s).
        leave_checkpoints_to_a_thread(db)
        return db

    def _target(self, kind: str) -> Target:
        """One target per kind for the whole process, shared by the delivery threads: so they
        share its clients, tokens, what it learnt about the platform and its pool of
        keep-alive connections (connector/targets/http_session.py)."""
        target = self._targets.get(kind)
        if target is None:
            with self._targets_lock:
                target = self._targets.get(kind)
                if target is None:

                    def recorder(
                        shop: str,
                        order_id: str,
                        what: str,
                        part_id: str | None,
                        mapping: str,
                        payload: dict[str, Any],
                    ) -> int:
                        return record_dry_run(self._db(), shop, order_id, what, part_id, mapping, payload)

                    target = self._targets[kind] = build_target(kind, self.settings["target.dry_run_mapping"], recorder)
        return target

    def deliver_one(self, key: OrderKey) -> DeliveryOutcome:
        """Deliver one leased order. What fails before the delivery itself starts (the shop's
        target settings, building the target) dead-letters the order with the reason: retried
        every lease it would fail the same way for ever. A storage failure leaves the lease to
        expire, and the order is retried."""
        db = self._db()
        # On PostgreSQL a delivery's reads are round trips to the server, which the turn would
        # make one at a time: its threads share the GIL as they did.
        with self.python_turn.taken() if db.dialect.global_write_lock else nullcontext():
            return self._deliver_one(db, key)

    def _deliver_one(self, db: Db, key: OrderKey) -> DeliveryOutcome:
        shop, order_id = key
        try:
            started = self._start_delivery(db, shop, order_id)
        except Exception as exc:  # see the docstring
            if is_storage_failure(exc):
                raise
            log.exception("cannot start the delivery", extra={"shop": shop, "order_id": order_id})
            return dead_letter_order(
                db, shop, order_id, self.name, f"cannot start the delivery: {type(exc).__name__}: {exc}"
            )
        if isinstance(started, DeliveryOutcome):
            return started
        delivery, work, profile = started
        outcome = delivery.run(work)
        if outcome.result == DeliveryResult.HELD:
            self.profiles.forget(shop)
        elif (
            outcome.result in (DeliveryResult.DELIVERED, DeliveryResult.UNCHANGED)
            and profile.check
            and not profile.check.ok
        ):
            self.profiles.account_works_again(shop)
        return outcome

    def _start_delivery(
        self, db: Any, shop: str, order_id: str
    ) -> DeliveryOutcome | tuple[OrderDelivery, Any, ShopProfile]:
        """The delivery of a claimed order, or the outcome when there is none to make."""
        profile = self.profiles.get(shop)
        if profile.blocked_reason(now_db()):  # the claim read the store: ours may be out of date
            profile = self.profiles.get(shop, fresh=True)
        blocked = profile.blocked_reason(now_db())
        if blocked or profile.account is None:  # changed since the claim: the order waits
            with write_transaction(db):
                holds.hold_order(db, shop, order_id, blocked or "no tracking account connected")
            return DeliveryOutcome(shop, order_id, DeliveryResult.HELD, reason=blocked)
        work = order_store.load_order_work(db, shop, order_id)
        if work is None:  # erased meanwhile (shop/redact): nothing left to deliver
            return DeliveryOutcome(shop, order_id, DeliveryResult.UNCHANGED)
        ctx = ShopContext(shop=shop, settings=self._typed_settings(shop, profile), silent=work.silent)
        delivery = OrderDelivery(
            db,
            self._target(profile.account.kind),
            ctx,
            self.policy,
            self.name,
            self.on_attempt,
            self.settings["worker.lease_s"],
            profile.options,
            self.settings["worker.account_recheck_s"],
            self.stop_event,
            self.parsed_bodies,
            self.python_turn,
        )
        return delivery, work, profile

    def _typed_settings(self, shop: str, profile: ShopProfile) -> Any:
        """The target's typed settings for the shop's account, built once per profile read."""
        cached = self._shop_targets.get(shop)
        if cached is None or cached[0] is not profile:
            assert profile.account is not None
            cached = (profile, self._target(profile.account.kind).settings_for(profile.account.settings))
            self._shop_targets[shop] = cached
        return cached[1]

    def _claim_ahead(self, slots: DeliverySlots[OrderKey, DeliveryOutcome]) -> list[OrderKey]:
        """Lease orders for the idle delivery threads, and half the threads' worth ahead.

        A claim (its hold check, the leasing statement, a write transaction) after every delivered
        order was ~9% of the worker's CPU per order (py-spy under ``bench/deliver.py``). Leased
        ahead, the orders wait for a thread that finishes: it starts the next at once, even while
        this loop is busy with a triage pass (connector/worker/slots.py), and a claim runs once
        per quarter of the threads or so. Returns what this pass claimed (handed to ``slots``).
        """
        idle, waiting = slots.counts()
        ahead = self._ahead()
        if waiting >= idle + ahead // 2:
            return []
        claimed = self._claim(idle + ahead - waiting, slots.busy())
        slots.offer(claimed)
        return claimed

    def _ahead(self) -> int:
        """Orders leased ahead of the delivery threads (see _claim_ahead)."""
        return max(2, self.settings["worker.concurrency"] // 2)

    def _release(self, ahead: list[OrderKey]) -> None:
        """Give back the leases of orders claimed ahead and never started (the worker stops):
        another worker, or this one restarted, takes them at once instead of after the lease."""
        if not ahead:
            return
        try:
            db = self._db()
            with write_transaction(db):
                order_store.release_leases(db, ahead, self.name)
        except STORE_ERRORS as exc:  # nothing lost: the leases expire after worker.lease_s
            log.warning(
                "could not give back %d leases (%s); they expire on their own",
                len(ahead),
                exc,
                extra={"worker": self.name},
            )

    def _claim(self, free: int, busy: set[OrderKey]) -> list[OrderKey]:
        db = self._db()
        park = time.monotonic() >= self._next_park
        with write_transaction(db):
            claimed = order_store.claim_due_orders(
                db, self.name, free, self.settings["worker.lease_s"], busy, scope=self.scope, park=park
            )
        if park:
            self._next_park = time.monotonic() + PARK_EVERY_S
        return claimed

    def _prepare(self, once: bool) -> bool:
        """Migrate and register configured shops; wait out a locked or failing store (a ``once``
        run gives up after a few tries: it is a command, it must end)."""
        failures = 0
        while not self.stop_event.is_set():
            try:
                migrate(self._db())
                self._know_config_shops()
                return True
            except STORE_ERRORS as exc:
                failures += 1
                self.stats.storage_errors += 1  # at start as in the loop: the store failed, the worker waited
                self._give_up_once(once, failures, exc)
                log.warning("store not ready (%s); retrying", exc, extra={"worker": self.name})
                self.stop_event.wait(self._storage_backoff_s())
        return False

    def _give_up_once(self, once: bool, failures: int, exc: BaseException) -> None:
        if once and failures >= ONCE_STORE_TRIES:
            raise StorageError(f"database {redact_url(location_of(self.settings))}: {exc}")

    def _storage_backoff_s(self) -> float:
        return max(self.settings["worker.poll_interval_s"], 0.5)

    def run(self, once: bool = False) -> WorkerStats:
        """Deliver until stopped; with ``once``, until nothing is due. A ``once`` run whose store
        keeps failing raises :class:`StorageError` (nothing is lost: every step is a transaction)."""
        if not self._prepare(once):
            return self.stats
        db = self._db()
        concurrency = self.settings["worker.concurrency"]
        listener = None if once else db.listener()
        if not once:
            self._start_background(db)
        # The loop is woken when a claim is due (_claim_ahead's threshold with every thread busy).
        slots: DeliverySlots[OrderKey, DeliveryOutcome] = DeliverySlots(
            concurrency, self.deliver_one, self.stop_event, refill_below=self._ahead() // 2
        )
        self._slots = slots
        next_prune = 0.0
        restarted = False
        store_failures = 0
        log.info("worker started", extra={"worker": self.name})
        try:
            while not self.stop_event.is_set():
                # Nothing here may end the process: a storage failure (database locked past the
                # busy timeout, disk full, a read-only file) loses nothing, since every step below
                # is one transaction, and neither does a bug (poison events end in their own
                # state, see triage); wait and try the pass again.
                delivering = slots.active()
                try:
                    self._reload()
                    if time.monotonic() >= next_prune:
                        next_prune = time.monotonic() + self._prune_interval_s()
                        self._prune()
                    if not restarted:  # the configuration may have changed: judge every shop afresh
                        self.profiles.restart()
                        restarted = True
                    self.profiles.sweep_rechecks()
                    self.stats.filed += self._file_journals(once, delivering)
                    # Another process triaging now (PostgreSQL): deliver meanwhile, don't queue
                    # behind it; a run that must end when nothing is left waits for it.
                    batch = self.settings["worker.batch_size"]
                    triaged = triage_new_events(
                        db,
                        min(batch, TRIAGE_SLICE_EVENTS) if delivering else batch,
                        self.rules,
                        wait=once,
                        budget_s=TRIAGE_SLICE_S if delivering else None,
                        parsed=self.parsed_bodies,
                    )
                    self.stats.triaged += triaged
                    # A customers/redact runs a slice per pass: triage and claims go on meanwhile.
                    triaged += run_redaction_steps(db, self.name, self.settings["worker.lease_s"], REDACTION_SLICE_S)
                    claimed = self._claim_ahead(slots)
                    store_failures = 0
                except Exception as exc:  # noqa: BLE001 - see above
                    if isinstance(exc, STORE_ERRORS):
                        store_failures += 1
                        self._give_up_once(once, store_failures, exc)
                    self._pause_after(exc)
                    continue
                self._tick_jobs(db)
                if slots.active():
                    slots.wait(0 if (triaged or claimed) else self.settings["worker.poll_interval_s"])
                elif once and not triaged and not claimed:
                    break
                elif not triaged and not claimed:
                    self._idle(listener)
                self._collect(slots)  # every pass: a delivery may have ended since the last
        finally:
            self._release(slots.take_back())
            slots.close()
            self._collect(slots)
        if self.jobs is not None:
            self.jobs.stop()
        if listener is not None:
            listener.close()
        log.info("worker stopped", extra={"worker": self.name})
        return self.stats

    def _file_journals(self, once: bool, delivering: bool) -> int:
        """Webhooks answered from the intake journal (SQLite) become events, before triage;
        every ``FILE_EVERY_S`` (on every pass of a ``once`` run with no delivery under way)."""
        db = self._db()
        # A `once` run files on every pass once its deliveries are done (it must not end before a
        # webhook already answered is filed); while they run, on the schedule, as a continuous run.
        if not isinstance(db, SqliteDb) or ((delivering or not once) and time.monotonic() < self._next_filing):
            return 0
        self._next_filing = time.monotonic() + FILE_EVERY_S
        if delivering:
            return file_journals(db, db.location, budget_s=TRIAGE_SLICE_S, batch_bytes=JOURNAL_SLICE_BYTES)
        return file_journals(db, db.location, wait=once)

    def _idle(self, listener: Listener | None) -> None:
        """Nothing to do: wait a poll interval, or less when the store says new events came."""
        poll = self.settings["worker.poll_interval_s"]
        if listener is None:
            self.stop_event.wait(poll)
        else:
            listener.wait(poll, self.stop_event)

    def _pause_after(self, exc: Exception) -> None:
        if isinstance(exc, STORE_ERRORS):
            log.warning("store failure in the worker loop (%s); retrying", exc, extra={"worker": self.name})
            self.stats.storage_errors += 1
        else:
            log.exception("unexpected error in the worker loop; retrying", extra={"worker": self.name})
            self.stats.loop_errors += 1
        self.stop_event.wait(self._storage_backoff_s())

    def _prune_interval_s(self) -> float:
        return self.settings["database.prune_interval_s"] or PRUNE_EVERY_S

    def _prune(self) -> None:
        """Keep the SQLite file from growing without bound (database.retention_days)."""
        retention_s = self.settings["database.retention_days"] * 86400
        pruned = prune_events(self._db(), retention_s)
        if pruned:
            log.info("pruned %d processed events older than %g days", pruned, self.settings["database.retention_days"])

    def _start_background(self, db: Db) -> None:
        """Metrics server and the job scheduler (re-sync resumption, reconciliation): not in
        ``--once`` runs, which only deliver what is due."""
        from connector.resync.scheduler import JobScheduler

        self._start_metrics()
        self.jobs = JobScheduler(self.settings)
        self.renewals = TokenRenewals(self.settings)

    def _start_metrics(self) -> None:
        """The worker's /metrics on loopback by default; a port already taken (another worker on
        this host) costs the metrics, never the deliveries: said once, in one line."""
        host, port = self.settings["worker.metrics_host"], self.settings["worker.metrics_port"]
        if not port or Worker._metrics_started:
            return
        try:
            metrics.start_metrics_server(port, self._db, host)
        except OSError as exc:
            log.error(
                "worker metrics cannot listen on %s:%d (%s): delivering without them; give each worker its "
                "own worker.metrics_port",
                host,
                port,
                exc.strerror or exc,
                extra={"worker": self.name},
            )
            return
        Worker._metrics_started = True
        log.info("worker metrics on http://%s:%d/metrics", host, port, extra={"worker": self.name})

    def _tick_jobs(self, db: Db) -> None:
        if self.jobs is None:
            return
        try:
            self.renewals.tick()
            self.jobs.tick(db)
        except Exception:  # never let job bookkeeping stop deliveries
            log.exception("job scheduler failed; retrying next tick", extra={"worker": self.name})

    def _collect(self, slots: DeliverySlots[OrderKey, DeliveryOutcome]) -> None:
        for finished in slots.collect():
            if finished.outcome is not None:
                self.stats.add(finished.outcome)
            else:  # deliver_one handles delivery errors; this is a store failure
                log.error(
                    "delivery crashed; the lease will expire and the order be retried",
                    exc_info=finished.error,
                    extra={"shop": finished.key[0], "order_id": finished.key[1]},
                )

    def stop(self) -> None:
        self.stop_event.set()
        if self._slots is not None:
            self._slots.wake()  # the loop may be waiting for deliveries: it stops now
