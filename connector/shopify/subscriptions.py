"""Shop-specific webhook subscriptions through the Admin GraphQL API, idempotently.

List what the shop already has (``webhookSubscriptions``), keep it, create only what is missing
(``webhookSubscriptionCreate``) — so installing twice, or re-running ``connector
register-webhooks``, never creates a duplicate subscription (duplicates mean duplicate
deliveries). The mandatory privacy topics cannot be subscribed this way: they live in
``shopify.app.toml`` (``compliance_topics``), see ``shopify.app.toml.example``.
https://shopify.dev/docs/api/admin-graphql/latest/mutations/webhookSubscriptionCreate
https://shopify.dev/changelog/consolidate-webhook-graphql-surfaces (the ``uri`` field)
"""

from __future__ import annotations

from dataclasses import dataclass, field

from connector.errors import ShopifyApiError
from connector.shopify import topics
from connector.shopify.admin_graphql import execute_graphql

WEBHOOK_PATH = "/webhooks/shopify"

LIST_QUERY = """
query ConnectorWebhookSubscriptions($after: String) {
  webhookSubscriptions(first: 100, after: $after) {
    nodes { id topic uri }
    pageInfo { hasNextPage endCursor }
  }
}
"""

CREATE_MUTATION = """
mutation ConnectorWebhookSubscriptionCreate($topic: WebhookSubscriptionTopic!, $uri: String!) {
  webhookSubscriptionCreate(topic: $topic, webhookSubscription: {uri: $uri, format: JSON}) {
    webhookSubscription { id topic uri }
    userErrors { field message }
  }
}
"""


def subscribed_topics() -> list[str]:
    """The topics the connector subscribes per shop: what it delivers, plus the app's own
    lifecycle (``app/uninstalled``, ``app/scopes_update``)."""
    return sorted(topics.DELIVERABLE_TOPICS | {topics.APP_UNINSTALLED, topics.APP_SCOPES_UPDATE})


def graphql_topic(topic: str) -> str:
    """``orders/partially_fulfilled`` → ``ORDERS_PARTIALLY_FULFILLED`` (the GraphQL enum)."""
    return topic.replace("/", "_").upper()


def webhook_address(app_url: str) -> str:
    return app_url.rstrip("/") + WEBHOOK_PATH


@dataclass
class SubscriptionReport:
    created: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)


def fetch_subscriptions(base: str, api_version: str, token: str) -> list[dict[str, str]]:
    """Every subscription of the app on the shop (all pages)."""
    found: list[dict[str, str]] = []
    after: str | None = None
    while True:
        data = execute_graphql(base, api_version, token, LIST_QUERY, {"after": after})
        page = data.get("webhookSubscriptions") or {}
        found.extend(page.get("nodes") or [])
        info = page.get("pageInfo") or {}
        if not info.get("hasNextPage"):
            return found
        after = info.get("endCursor")


def ensure_subscriptions(
    base: str, api_version: str, token: str, address: str, wanted: list[str]
) -> SubscriptionReport:
    """Create the subscriptions of ``wanted`` topics to ``address`` that do not exist yet."""
    existing = {(s.get("topic"), s.get("uri")) for s in fetch_subscriptions(base, api_version, token)}
    report = SubscriptionReport()
    for topic in wanted:
        enum = graphql_topic(topic)
        if (enum, address) in existing:
            report.kept.append(topic)
            continue
        data = execute_graphql(base, api_version, token, CREATE_MUTATION, {"topic": enum, "uri": address})
        result = data.get("webhookSubscriptionCreate") or {}
        errors = result.get("userErrors") or []
        if errors:
            text = "; ".join(str(e.get("message")) for e in errors)
            raise ShopifyApiError(f"webhookSubscriptionCreate {enum}: {text}"[:500])
        report.created.append(topic)
    return report
