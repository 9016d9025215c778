"""What the worker does with the app's own webhooks: app lifecycle and the privacy topics.

Each handler is ``handler(db, shop, body, event_id) -> (event state, reason)`` and runs inside
the event's own write transaction (triage gives every lifecycle event one), so its writes commit
together with the event's new state. What would hold that lock too long is done before, in
short transactions of its own, by :func:`prepare_lifecycle` (safe to repeat: a worker that dies
there leaves the event ``new``, and the next pass starts again).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from connector.lifecycle.customer_redaction import start_customer_redaction
from connector.lifecycle.privacy import erase_shop_events, handle_data_request, handle_shop_redact
from connector.lifecycle.scopes import handle_app_scopes_update
from connector.lifecycle.uninstall import handle_app_uninstalled
from connector.models import EventState
from connector.shopify.topics import APP_SCOPES_UPDATE, APP_UNINSTALLED
from connector.store.db import Db

LifecycleHandler = Callable[[Db, str, Any, int], "tuple[EventState, str | None]"]

HANDLERS: dict[str, LifecycleHandler] = {
    APP_UNINSTALLED: handle_app_uninstalled,
    APP_SCOPES_UPDATE: handle_app_scopes_update,
    "customers/data_request": handle_data_request,
    "customers/redact": start_customer_redaction,
    "shop/redact": handle_shop_redact,
}


def prepare_lifecycle(db: Db, topic: str, shop: str, body: Any) -> None:
    """The slow part of a lifecycle event, outside its transaction: ``shop/redact`` deletes the
    shop's stored events in batches (a shop with thousands of orders must not hold the write
    lock for every other shop's webhooks meanwhile)."""
    if topic == "shop/redact":
        erase_shop_events(db, shop)
