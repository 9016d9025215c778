"""Helpers shared by the operator-tool tests: settings on a temp database, signed webhooks."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

from connector.config import Settings, load_settings
from connector.shopify.verify import sign_body
from connector.store.db import is_postgres

SHOP = "ops-test.myshopify.com"
SECRET = "whsec-ops-test"
ADMIN_TOKEN = "admin-token-for-tests"


def make_settings(
    tmp_path: Path, admin_url: str | None = None, token: str = "shpat_standin", store: str | None = None,
    **values: Any,
) -> Settings:
    """Settings from a real TOML file (shop section included), with ``section.key`` overrides.

    ``store`` is the test's ``db_path`` (a SQLite file or a PostgreSQL URL); default a file in
    ``tmp_path``."""
    shop_table = f'[shops."{SHOP}"]\naccess_token = "{token}"\n'
    if admin_url:
        shop_table += f'admin_url = "{admin_url}"\n'
    config = tmp_path / "config.toml"
    config.write_text(shop_table, encoding="utf-8")
    overrides = {
        **store_settings(store or str(tmp_path / "connector.db")),
        "shopify.api_secret": SECRET,
        "admin.token": ADMIN_TOKEN,
        "retry.first_delay_s": 0.01,
        "worker.poll_interval_s": 0.01,
        "target.all_shops": True,  # one custom-app shop delivering to the global account
        **values,
    }
    return load_settings(config, env={}, overrides=overrides)


def store_settings(location: str) -> dict[str, str]:
    return {"database.url": location} if is_postgres(location) else {"database.path": location}


def post_webhook(client: Any, topic: str, body: dict[str, Any], shop: str = SHOP) -> Any:
    """Post a correctly signed webhook to the Flask test client."""
    raw = json.dumps(body).encode()
    return client.post(
        "/webhooks/shopify", data=raw,
        headers={
            "X-Shopify-Topic": topic, "X-Shopify-Shop-Domain": shop, "X-Shopify-Hmac-Sha256": sign_body(raw, SECRET),
            "X-Shopify-Webhook-Id": str(uuid.uuid4()), "X-Shopify-Event-Id": str(uuid.uuid4()),
            "X-Shopify-API-Version": "2026-10", "Content-Type": "application/json",
        },
    )


def auth(token: str = ADMIN_TOKEN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
