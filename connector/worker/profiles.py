"""The worker's view of each shop's account and options, re-read at most a poll interval late.

A merchant who connects, changes or pauses an account in the app is seen by the next delivery
without a restart; a failing account is tried again every ``worker.account_recheck_s``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from connector.accounts.profile import ShopProfile
from connector.accounts.stored import load_profile, record_check
from connector.config import Settings
from connector.store import holds
from connector.store import shop_settings as settings_store
from connector.store.db import Db, write_transaction

log = logging.getLogger(__name__)
RECHECK_SWEEP_S = 5.0


class ProfileCache:
    def __init__(self, settings: Settings, db_factory: Callable[[], Db], ttl_s: float) -> None:
        self.settings, self._db, self.ttl_s = settings, db_factory, max(ttl_s, 0.05)
        self._profiles: dict[str, tuple[float, ShopProfile]] = {}
        self._lock = threading.Lock()
        self._next_sweep = 0.0

    def get(self, shop: str, fresh: bool = False) -> ShopProfile:
        now = time.monotonic()
        with self._lock:
            cached = self._profiles.get(shop)
        if cached and not fresh and now - cached[0] < self.ttl_s:
            return cached[1]
        profile = load_profile(self._db(), self.settings, shop)
        with self._lock:
            self._profiles[shop] = (now, profile)
        return profile

    def forget(self, shop: str) -> None:
        with self._lock:
            self._profiles.pop(shop, None)

    def account_works_again(self, shop: str) -> None:
        """A delivery went through on an account that was failing: clear it, release the shop."""
        db = self._db()
        with write_transaction(db):
            record_check(db, self.settings, shop, True, "deliveries go through again")
        log.info("tracking account accepted again; the shop's held orders are released", extra={"shop": shop})
        self.forget(shop)

    def restart(self) -> None:
        """At start: every held order is judged afresh, every failing account is tried again
        (the operator may have fixed the configuration while we were down)."""
        db = self._db()
        with write_transaction(db):
            settings_store.start_recheck(db)
            holds.release_held_orders(db)
        with self._lock:
            self._profiles.clear()

    def sweep_rechecks(self) -> None:
        """Release the orders of shops whose failing account waited its recheck time out."""
        if time.monotonic() < self._next_sweep:
            return
        self._next_sweep = time.monotonic() + RECHECK_SWEEP_S
        db = self._db()
        due = settings_store.shops_due_for_recheck(db)
        if not due:
            return
        with write_transaction(db):
            settings_store.start_recheck(db, due)
            for shop in due:
                holds.release_held_orders(db, shop)
        for shop in due:
            log.info("trying the failing tracking account again", extra={"shop": shop})
            self.forget(shop)
