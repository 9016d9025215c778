"""``app/uninstalled``: the token goes and deliveries stop; the shop's data stays until shop/redact."""

from __future__ import annotations

from typing import Any

from connector.models import EventState
from connector.store.db import Db
from connector.store.events import event_times
from connector.store.shops import get_shop, mark_uninstalled
from connector.timeutil import normalize_iso


def handle_app_uninstalled(db: Db, shop: str, body: Any, event_id: int) -> tuple[EventState, str | None]:
    """Delete the token and stop deliveries; keep the shop's events until shop/redact.

    Idempotent, and blind to an uninstall that happened before the latest install: Shopify may
    deliver it twice or late ("Webhook requests can trigger multiple times and after an app has
    already been uninstalled" — Shopify's app template, webhooks.app.uninstalled).
    """
    row = get_shop(db, shop)
    if row is None:
        return EventState.HANDLED, "shop was not installed"
    if row["uninstalled_at"]:
        return EventState.HANDLED, "already uninstalled"
    triggered_at, received_at = event_times(db, event_id)
    sent_at = normalize_iso(triggered_at) or received_at
    if sent_at and row["installed_at"] > sent_at:
        return EventState.IGNORED, "the shop installed the app again after this uninstall"
    mark_uninstalled(db, shop)
    return EventState.HANDLED, "token deleted; deliveries stopped; data kept until shop/redact"
