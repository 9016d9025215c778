"""``app/scopes_update``: the merchant granted or revoked access scopes."""

from __future__ import annotations

import logging
from typing import Any

from connector.models import EventState
from connector.shopify.topics import APP_SCOPES_UPDATE
from connector.store.db import Db
from connector.store.shops import set_scopes

log = logging.getLogger(__name__)
# What re-sync and reconciliation need; delivering webhooks needs none of them.
REQUIRED_SCOPES = ("read_orders",)


def handle_app_scopes_update(db: Db, shop: str, body: Any, event_id: int) -> tuple[EventState, str | None]:
    """Keep the granted scopes; say plainly when re-sync and reconciliation lost what they need.

    Body: ``{"id", "shop_id", "previous": [...], "current": [...], "updated_at"}``
    (https://shopify.dev/docs/api/webhooks?reference=toml#list-of-topics-app/scopes_update).
    """
    current = body.get("current") if isinstance(body, dict) else None
    if not isinstance(current, list) or not all(isinstance(scope, str) for scope in current):
        return EventState.INVALID, "app/scopes_update body has no list of current scopes"
    if not set_scopes(db, shop, ",".join(sorted(current))):
        return EventState.HANDLED, "shop is not installed"
    missing = [scope for scope in REQUIRED_SCOPES if scope not in current]
    if missing:
        log.warning(
            "shop revoked %s: re-sync and reconciliation will fail until it is granted again",
            ", ".join(missing),
            extra={"shop": shop, "topic": APP_SCOPES_UPDATE},
        )
        return EventState.HANDLED, f"scopes recorded; missing {', '.join(missing)}"
    return EventState.HANDLED, "scopes recorded"
