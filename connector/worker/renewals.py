"""The worker renews client-credentials tokens (24 hours) in the background, well before expiry.

Once a minute at most, on its own thread and connection, so a slow or refusing Shopify never
holds up deliveries.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from connector.config import Settings
from connector.lifecycle.client_credentials import renew_due_tokens
from connector.store.db import close_thread_dbs, db_for

log = logging.getLogger(__name__)
EVERY_S = 60.0


class TokenRenewals:
    def __init__(
        self, settings: Settings, clock: Callable[[], float] = time.monotonic, every_s: float = EVERY_S
    ) -> None:
        self.settings, self._clock, self.every_s = settings, clock, every_s
        self._next = 0.0
        self._thread: threading.Thread | None = None

    def tick(self, force: bool = False) -> threading.Thread | None:
        """Start a renewal pass when one is due and none is running; returns its thread."""
        if (not force and self._clock() < self._next) or (self._thread is not None and self._thread.is_alive()):
            return None
        self._next = self._clock() + self.every_s
        self._thread = threading.Thread(target=self._run, name="token-renewals", daemon=True)
        self._thread.start()
        return self._thread

    def _run(self) -> None:
        try:
            db = db_for(self.settings)
            outcomes = renew_due_tokens(db, self.settings)
            if outcomes:
                log.info("client credentials tokens: %s", ", ".join(f"{s} {o}" for s, o in sorted(outcomes.items())))
        except Exception:  # never let renewals end the worker; the next pass tries again
            log.exception("token renewal pass failed")
        finally:
            close_thread_dbs()
