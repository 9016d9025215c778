"""What the worker does with the app's own webhooks: app lifecycle and the privacy topics.

Each handler is ``handler(db, shop, body) -> (event state, reason)`` and runs inside triage's
write transaction, so its writes commit together with the event's new state.
"""

from __future__ import annotations

from typing import Any, Callable, TYPE_CHECKING

from connector.lifecycle.privacy import handle_customers_redact, handle_data_request, handle_shop_redact
from connector.lifecycle.scopes import handle_app_scopes_update
from connector.lifecycle.uninstall import handle_app_uninstalled
from connector.models import EventState
from connector.shopify.topics import APP_SCOPES_UPDATE, APP_UNINSTALLED

if TYPE_CHECKING:  # only store/ and migrations import sqlite-utils at run time
    import sqlite_utils

LifecycleHandler = Callable[["sqlite_utils.Database", str, Any], "tuple[EventState, str | None]"]

HANDLERS: dict[str, LifecycleHandler] = {
    APP_UNINSTALLED: handle_app_uninstalled,
    APP_SCOPES_UPDATE: handle_app_scopes_update,
    "customers/data_request": handle_data_request,
    "customers/redact": handle_customers_redact,
    "shop/redact": handle_shop_redact,
}
