"""The mandatory privacy webhooks, as worker lifecycle handlers.

The webhook endpoint has already verified (401 on a bad HMAC), stored and acknowledged them;
here the worker acts on them (https://shopify.dev/docs/apps/build/compliance/privacy-law-compliance):

* ``customers/data_request`` — recorded in ``data_requests``; an operator answers the store
  owner with ``connector privacy export --request ID``.
* ``customers/redact`` — the customer's personal data leaves every stored event body, sent
  payload and error text of the shop; ids, ``updated_at``, hashes and states stay, so later
  webhooks for the same orders still deliver, once. Honoured in short, resumable steps by
  :mod:`.customer_redaction`.
* ``shop/redact`` — sent 48 h after uninstall: everything held for the shop is deleted.

Each handler is ``handler(db, shop, body, event_id) -> (event state, reason)`` and runs inside
the event's own write transaction.
"""

from __future__ import annotations

import logging
from typing import Any

from connector.models import EventState
from connector.store import privacy as privacy_store
from connector.store.db import Db

log = logging.getLogger(__name__)


def handle_data_request(db: Db, shop: str, body: Any, event_id: int) -> tuple[EventState, str | None]:
    if not isinstance(body, dict) or not isinstance(body.get("customer"), dict):
        return EventState.INVALID, "customers/data_request body has no customer"
    request_id = privacy_store.record_data_request(db, shop, body)
    if request_id is None:
        return EventState.HANDLED, "data request already recorded"
    log.warning(
        "privacy data request %s recorded: answer it with `connector privacy export --request %s`",
        request_id,
        request_id,
        extra={"shop": shop},
    )
    return EventState.HANDLED, f"data request {request_id} recorded for an operator"


def handle_shop_redact(db: Db, shop: str, body: Any, event_id: int) -> tuple[EventState, str | None]:
    counts = privacy_store.erase_shop(db, shop)
    summary = ", ".join(f"{n} {table}" for table, n in counts.items() if n)
    log.info("shop erased: %s", summary or "nothing held", extra={"shop": shop})
    return EventState.HANDLED, f"erased {summary or 'nothing (no data held)'}"


def erase_shop_events(db: Db, shop: str) -> int:
    """Delete the shop's events (all but the shop/redact ones) in short batches; returns how many."""
    total = 0
    with privacy_store.secure_delete(db):
        while True:
            deleted = privacy_store.delete_shop_events_batch(db, shop)
            total += deleted
            if deleted < privacy_store.ERASE_BATCH:
                return total
