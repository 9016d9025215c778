"""``connector simulate``: sign a Shopify webhook body and post it, as Shopify would."""

from __future__ import annotations

import json
import uuid
from importlib import resources
from pathlib import Path
from typing import Any

import requests

from connector.config import Settings
from connector.shopify.domains import is_valid_shop_domain
from connector.shopify.verify import sign_body

DEV_SECRET_KEY = "dev_api_secret"


def sample_body() -> bytes:
    """The bundled real Shopify order (Shopify's documentation sample, exact 64-bit ids)."""
    return resources.files("connector").joinpath("data/sample_order.json").read_bytes()


class UnknownTopic(ValueError):
    """The body's fields do not say which webhook topic it belongs to; the message says why."""


def topic_of(raw: bytes) -> str:
    """The webhook topic a Shopify body belongs to, told by the fields Shopify puts in it
    (https://shopify.dev/docs/api/webhooks?reference=toml#list-of-topics)."""
    try:
        body: Any = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise UnknownTopic("the file is not JSON: pass --topic to post it all the same") from None
    if not isinstance(body, dict):
        raise UnknownTopic("the file is not a JSON object: pass --topic to post it all the same")
    topic = _topic_by_fields(set(body), body)
    if topic is None:
        hint = (
            "it looks like a shop (app/uninstalled or shop/update)"
            if "myshopify_domain" in body
            else "its fields match no order, fulfillment, refund or privacy body"
        )
        raise UnknownTopic(f"cannot tell the topic from the file: {hint}; pass --topic")
    return topic


def _topic_by_fields(keys: set[str], body: dict[str, Any]) -> str | None:
    if "shop_domain" in keys:  # the mandatory privacy topics
        if keys & {"data_request", "orders_requested"}:
            return "customers/data_request"
        return "customers/redact" if keys & {"customer", "orders_to_redact"} else "shop/redact"
    if {"previous", "current"} <= keys:
        return "app/scopes_update"
    if "order_id" in keys and keys & {"tracking_number", "tracking_numbers", "tracking_company", "shipment_status"}:
        return "fulfillments/create"
    if "order_id" in keys and keys & {"refund_line_items", "transactions", "order_adjustments"}:
        return "refunds/create"
    if "line_items" in keys and keys & {"order_number", "financial_status", "total_price"}:
        return "orders/create"
    if keys == {"id"}:
        return "orders/delete"
    return None


def shop_of(raw: bytes) -> str | None:
    """The shop a privacy or app body names (``shop_domain``, ``myshopify_domain``), if valid."""
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(body, dict):
        return None
    named = body.get("shop_domain") or body.get("myshopify_domain")
    return named if isinstance(named, str) and is_valid_shop_domain(named) else None


def resolve_secret(settings: Settings) -> str | None:
    """The configured secret, else the demo secret `connector run` generated."""
    if settings["shopify.api_secret"]:
        return settings["shopify.api_secret"]
    from connector.app import prepare_store
    from connector.store.app_state import get_value
    from connector.store.db import db_for, is_postgres, location_of

    location = location_of(settings)
    if not is_postgres(location) and not Path(location).is_file():  # never create one to find nothing in it
        return None
    prepare_store(settings)
    return get_value(db_for(settings), DEV_SECRET_KEY)


def post_webhook(url: str, body: bytes, secret: str, topic: str, shop: str, timeout: float = 10.0) -> tuple[int, str]:
    """POST ``body`` with Shopify's headers; returns (status, response text)."""
    delivery = str(uuid.uuid4())
    headers = {
        "Content-Type": "application/json",
        "X-Shopify-Topic": topic,
        "X-Shopify-Shop-Domain": shop,
        "X-Shopify-Hmac-Sha256": sign_body(body, secret),
        "X-Shopify-Webhook-Id": delivery,
        "X-Shopify-Event-Id": delivery,
        "X-Shopify-API-Version": "2026-10",
        "X-Shopify-Test": "true",
    }
    try:
        response = requests.post(url, data=body, headers=headers, timeout=timeout)
    except requests.ConnectionError:
        return 0, f"could not connect to {url}: is `connector run` (or `serve`) running?"
    return response.status_code, response.text.strip()
