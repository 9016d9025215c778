"""``connector simulate``: sign a Shopify webhook body and post it, as Shopify would."""

from __future__ import annotations

import uuid
from importlib import resources

import requests

from connector.config import Settings
from connector.shopify.verify import sign_body

DEV_SECRET_KEY = "dev_api_secret"


def sample_body() -> bytes:
    """The bundled real Shopify order (Shopify's documentation sample, exact 64-bit ids)."""
    return resources.files("connector").joinpath("data/sample_order.json").read_bytes()


def resolve_secret(settings: Settings) -> str | None:
    """The configured secret, else the demo secret `connector run` generated."""
    if settings["shopify.api_secret"]:
        return settings["shopify.api_secret"]
    from connector.app import prepare_store
    from connector.store.db import db_for
    from connector.store.app_state import get_value

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
