"""Does a webhook's body fit its headers? Checks against replay under another topic or shop (pure).

The HMAC covers the body only: ``X-Shopify-Topic`` and ``X-Shopify-Shop-Domain`` are not signed,
so a captured body can be re-sent under another topic or another shop of the same app and still
verify. What Shopify's bodies let us check, we check before acting:

* the privacy topics carry ``shop_domain`` and ``app/uninstalled`` (a Shop resource) carries
  ``myshopify_domain`` — it must name the header's shop;
* an order topic needs an order body, a fulfillment topic a fulfillment, a refund topic a refund
  (each has its own fields and its ``admin_graphql_api_id`` names its type), and
  ``orders/delete`` carries only the id (https://shopify.dev/docs/api/webhooks, topic payloads;
  the real bodies are in tests/fixtures).

Order, fulfillment and refund bodies name no shop: a cross-shop replay of one is caught only by
the other checks (docs/security.md says what is left).
"""

from __future__ import annotations

from typing import Any

from connector.shopify import topics
from connector.shopify.ids import GID_PREFIX

SHOP_DOMAIN_TOPICS = topics.PRIVACY_TOPICS
# Fields only a fulfillment / a refund / a shop or privacy body has.
FULFILLMENT_FIELDS = (
    "tracking_number",
    "tracking_numbers",
    "tracking_company",
    "tracking_urls",
    "shipment_status",
    "status",
)
REFUND_FIELDS = ("refund_line_items", "transactions", "order_adjustments", "refund_shipping_lines")
SHOP_FIELDS = ("shop_domain", "myshopify_domain")
EXPECTED_GID_TYPE = {"order": "Order", "fulfillment": "Fulfillment", "refund": "Refund"}


def gid_type(body: dict[str, Any]) -> str | None:
    """``Order`` from ``gid://shopify/Order/123`` in ``admin_graphql_api_id``; None when absent."""
    gid = body.get("admin_graphql_api_id")
    if isinstance(gid, str) and gid.startswith(GID_PREFIX):
        return gid[len(GID_PREFIX) :].split("/", 1)[0] or None
    return None


def _same_shop(value: Any, shop: str) -> bool:
    return isinstance(value, str) and value.strip().lower() == shop.lower()


def lifecycle_problem(topic: str, body: Any, shop: str) -> str | None:
    """Why a privacy or app body does not belong to ``shop`` (None when it does)."""
    if not isinstance(body, dict):
        return None  # the handler refuses it as invalid
    if topic in SHOP_DOMAIN_TOPICS:
        named = body.get("shop_domain")
        if not isinstance(named, str):
            return f"{topic} body names no shop_domain"
        return None if _same_shop(named, shop) else f"{topic} body is for {named[:100]}, not {shop}"
    if topic == topics.APP_UNINSTALLED:
        named = body.get("myshopify_domain") if "myshopify_domain" in body else body.get("domain")
        if not isinstance(named, str):
            return "app/uninstalled body names no myshopify_domain (not a Shop)"
        return None if _same_shop(named, shop) else f"app/uninstalled body is for {named[:100]}, not {shop}"
    return None


def _kind_of(body: dict[str, Any]) -> str | None:
    """What the body looks like: order, fulfillment, refund, shop — or None when it cannot be told."""
    declared = gid_type(body)
    if declared:
        return {"Order": "order", "Fulfillment": "fulfillment", "Refund": "refund", "Shop": "shop"}.get(
            declared, declared
        )
    if any(key in body for key in SHOP_FIELDS):
        return "shop"
    if "order_id" in body:
        if any(key in body for key in REFUND_FIELDS):
            return "refund"
        return "fulfillment" if any(key in body for key in FULFILLMENT_FIELDS) else None
    return "order" if isinstance(body.get("line_items"), list) else None


def resource_problem(topic: str, body: dict[str, Any]) -> str | None:
    """Why a body does not fit an order/fulfillment/refund topic (None when it does)."""
    if topic == topics.ORDER_DELETE_TOPIC:
        extra = [key for key in ("line_items", "order_id", *SHOP_FIELDS, "customer") if key in body]
        declared = gid_type(body)
        if extra or (declared and declared != "Order"):
            return f"orders/delete carries only the order's id, this body has {', '.join(extra) or declared}"
        return None
    wanted = (
        "order" if topic in topics.ORDER_TOPICS else "fulfillment" if topic in topics.FULFILLMENT_TOPICS else "refund"
    )
    kind = _kind_of(body)
    if kind == wanted:
        return None
    return f"{topic} needs a{'n' if wanted == 'order' else ''} {wanted} body, this one " + (
        f"is a {kind}" if kind else f"has none of a{'n' if wanted == 'order' else ''} {wanted}'s fields"
    )
