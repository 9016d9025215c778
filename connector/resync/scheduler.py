"""The worker's side of jobs: resume orphaned ones, start periodic reconciliation, fetch the
orders whose fulfillments or refunds came without them (one-order re-syncs).

Runs in the worker's main loop as a cheap ``tick`` (a few SQL reads at most every few seconds);
the jobs themselves run on their own threads so delivery never waits for Shopify.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from connector.config import Settings
from connector.errors import BadRequestError
from connector.lifecycle.credentials import has_admin_credentials
from connector.resync.jobs import RECONCILE, RESYNC, schedule_reconcile_job
from connector.resync.runner import runner_name, start_job_thread
from connector.resync.spec import ResyncSpec
from connector.store import jobs as job_store
from connector.store import missing_orders
from connector.store.app_state import get_value, set_value
from connector.store.db import Db, write_transaction
from connector.store.shops import known_shops
from connector.timeutil import now_db, parse_iso, utc_now

log = logging.getLogger(__name__)
TICK_EVERY_S = 5.0


class JobScheduler:
    def __init__(
        self,
        settings: Settings,
        start: Callable[..., threading.Thread] = start_job_thread,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.owner = runner_name("worker-jobs")
        self.stop_event = threading.Event()
        self.threads: dict[str, threading.Thread] = {}
        self._start = start
        self._clock = clock
        self._next_tick = 0.0

    def tick(self, db: Db, force: bool = False) -> list[str]:
        """Start threads for orphaned and due jobs; returns the job ids started."""
        if not force and self._clock() < self._next_tick:
            return []
        self._next_tick = self._clock() + TICK_EVERY_S
        self.threads = {j: t for j, t in self.threads.items() if t.is_alive()}
        started = [j for j in job_store.orphaned_job_ids(db) if j not in self.threads]
        started += self._due_reconciles(db)
        started += self._missing_order_fetches(db)
        for job_id in started:
            log.info("starting job", extra={"job": job_id})
            self.threads[job_id] = self._start(self.settings, job_id, self.owner, self.stop_event)
        return started

    def _due_reconciles(self, db: Db) -> list[str]:
        interval = self.settings["worker.reconcile_interval_s"]
        if interval <= 0:
            return []
        created = []
        for shop in sorted(known_shops(db)):
            if not has_admin_credentials(db, self.settings, shop) or job_store.open_job_for(db, shop, RECONCILE):
                continue
            last = parse_iso(get_value(db, f"reconcile_last:{shop}"))
            if last is not None and (utc_now() - last).total_seconds() < interval:
                continue
            try:
                job_id = schedule_reconcile_job(
                    db,
                    self.settings,
                    shop,
                    self.settings["worker.reconcile_window_s"],
                    self.owner,
                    "worker",
                )
            except BadRequestError as exc:  # e.g. uninstalled between the read and now
                log.warning("reconcile not started: %s", exc, extra={"shop": shop})
                continue
            if job_id is None:  # another worker started it meanwhile
                continue
            created.append(job_id)
            set_value(db, f"reconcile_last:{shop}", now_db())
        return created

    def _missing_order_fetches(self, db: Db) -> list[str]:
        """A re-sync of the orders (one job per shop) whose fulfillments or refunds have waited
        ``worker.missing_order_fetch_s`` for them: their orders/* webhooks were lost. The order
        takes the webhook road like any re-synced one. Shops without an Admin API token are
        left to the delivery, which settles the wait (``worker.missing_order_give_up_s``)."""
        created = []
        for shop, order_ids in sorted(
            missing_orders.orders_to_fetch(db, self.settings["worker.missing_order_fetch_s"]).items()
        ):
            if not has_admin_credentials(db, self.settings, shop):
                continue
            with write_transaction(db):  # claimed and queued together: each order is asked for once
                claimed = missing_orders.claim_fetches(db, shop, order_ids)
                if not claimed:  # another worker got there first
                    continue
                note = f"fetching {len(claimed)} order(s) whose fulfillments or refunds arrived without their orders/* webhook"
                created.append(
                    job_store.create_job(
                        db,
                        RESYNC,
                        shop,
                        ResyncSpec(shop=shop, order_ids=tuple(claimed)).params(),
                        self.owner,
                        self.settings["worker.lease_s"],
                        [note],
                        "worker",
                    )
                )
            log.info("fetching %d order(s) that never arrived", len(claimed), extra={"shop": shop, "job": created[-1]})
        return created

    def stop(self, timeout_s: float = 10.0) -> None:
        """Ask job threads to stop after their current page (their jobs stay resumable)."""
        self.stop_event.set()
        deadline = self._clock() + timeout_s
        for thread in self.threads.values():
            thread.join(max(0.0, deadline - self._clock()))
