"""Which webhook topics the worker acts on, and what each one carries."""

from __future__ import annotations

# Full Order bodies (https://shopify.dev/docs/api/webhooks?reference=toml#list-of-topics).
ORDER_TOPICS = frozenset(
    {
        "orders/create",
        "orders/updated",
        "orders/paid",
        "orders/cancelled",
        "orders/fulfilled",
        "orders/partially_fulfilled",
    }
)
ORDER_DELETE_TOPIC = "orders/delete"  # body is only {"id": ...}
FULFILLMENT_TOPICS = frozenset({"fulfillments/create", "fulfillments/update"})
REFUND_TOPICS = frozenset({"refunds/create"})
DELIVERABLE_TOPICS = ORDER_TOPICS | FULFILLMENT_TOPICS | REFUND_TOPICS | {ORDER_DELETE_TOPIC}

# App lifecycle and the mandatory privacy topics: handled by the connector itself.
APP_UNINSTALLED = "app/uninstalled"
APP_SCOPES_UPDATE = "app/scopes_update"  # the merchant granted or revoked access scopes
PRIVACY_TOPICS = frozenset({"customers/data_request", "customers/redact", "shop/redact"})
LIFECYCLE_TOPICS = frozenset({APP_UNINSTALLED, APP_SCOPES_UPDATE}) | PRIVACY_TOPICS


def is_deliverable(topic: str) -> bool:
    """True when events of this topic must reach the worker's delivery path."""
    return topic in DELIVERABLE_TOPICS
