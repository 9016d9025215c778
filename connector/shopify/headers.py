"""Reading a webhook delivery's headers, in both spellings Shopify uses.

Classic deliveries use ``X-Shopify-*``; the newer Events deliveries use ``Shopify-*``
(shopify-api-ruby accepts both). Header lookup is case-insensitive.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from connector.shopify.domains import is_valid_shop_domain

MAX_HEADER_LEN = 255


class MissingHeaderError(ValueError):
    """A required webhook header is absent or malformed; the message names it."""


def _environ_keys(name: str) -> tuple[str, str]:
    suffix = name.upper().replace("-", "_")
    return f"HTTP_X_SHOPIFY_{suffix}", f"HTTP_SHOPIFY_{suffix}"


_KEYS = {
    name: _environ_keys(name)
    for name in ("Topic", "Shop-Domain", "Webhook-Id", "Event-Id", "API-Version", "Triggered-At", "Test", "Hmac-Sha256")
}


def header(environ: Mapping[str, str], name: str) -> str | None:
    """``X-Shopify-<name>`` or ``Shopify-<name>`` from a WSGI environ, stripped; None when blank.

    Read from the environ (``HTTP_X_SHOPIFY_TOPIC``) rather than Werkzeug's header view: a plain
    dict look-up, which matters on the webhook hot path. Case never matters there.
    """
    for key in _KEYS.get(name) or _environ_keys(name):
        value = environ.get(key)
        if value is not None and value.strip():
            return value.strip()
    return None


@dataclass(frozen=True)
class WebhookHeaders:
    topic: str
    shop: str
    webhook_id: str | None
    event_id: str | None
    api_version: str | None
    triggered_at: str | None
    test: bool

    @property
    def dedupe_key(self) -> str:
        """Shopify's documented duplicate key is the event id; the webhook id is the fallback."""
        return f"event:{self.event_id}" if self.event_id else f"webhook:{self.webhook_id}"


def parse_webhook_headers(headers: Mapping[str, str]) -> WebhookHeaders:
    """Required: topic, shop domain, and a webhook or event id. Raises MissingHeaderError.

    ``headers`` is the request's WSGI environ.
    """
    topic = header(headers, "Topic")
    shop = header(headers, "Shop-Domain")
    webhook_id = header(headers, "Webhook-Id")
    event_id = header(headers, "Event-Id")
    if not topic:
        raise MissingHeaderError("missing X-Shopify-Topic header")
    if not shop:
        raise MissingHeaderError("missing X-Shopify-Shop-Domain header")
    if not is_valid_shop_domain(shop):
        raise MissingHeaderError("X-Shopify-Shop-Domain is not a name.myshopify.com domain")
    if not webhook_id and not event_id:
        raise MissingHeaderError("missing X-Shopify-Webhook-Id header")
    for name, value in (("Topic", topic), ("Webhook-Id", webhook_id), ("Event-Id", event_id)):
        if value and len(value) > MAX_HEADER_LEN:
            raise MissingHeaderError(f"X-Shopify-{name} is longer than {MAX_HEADER_LEN} characters")
    return WebhookHeaders(
        topic=topic,
        shop=shop.lower(),
        webhook_id=webhook_id,
        event_id=event_id,
        api_version=(header(headers, "API-Version") or "")[:32] or None,
        triggered_at=(header(headers, "Triggered-At") or "")[:64] or None,
        test=(header(headers, "Test") or "").lower() == "true",
    )
