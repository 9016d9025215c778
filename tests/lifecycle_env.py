"""Shared pieces for the lifecycle tests: settings on a temp database, signed requests, file bytes.

Kept out of a conftest.py on purpose (other branches add their own conftest).
"""

from __future__ import annotations

import json
import sqlite3
import time
import uuid
from pathlib import Path
from typing import Any, Mapping
from urllib.parse import urlencode

from connector.config import Settings, load_settings
from connector.crypto import generate_key
from connector.shopify.verify import sign_body, sign_oauth_params
from connector.store.db import connect, is_postgres, location_of

API_KEY = "test-client-id"
API_SECRET = "test-client-secret"
APP_URL = "https://connector.example"
SHOP = "lifecycle-test.myshopify.com"
FIXTURES = Path(__file__).parent / "fixtures"


def make_settings(
    tmp_path: Path, admin_base: str | None = None, shops_toml: str = "", store: str | None = None, **shopify: Any
) -> Settings:
    """Settings from a real TOML file (``[shops]`` tables only come from a file). ``store`` is
    the test's ``db_path`` (a SQLite file or a PostgreSQL URL); default a file in ``tmp_path``."""
    values = {
        "api_key": API_KEY, "api_secret": API_SECRET, "app_url": APP_URL,
        "token_encryption_key": generate_key(), **shopify,
    }
    if admin_base:
        values["admin_base_url_template"] = admin_base + "/shops/{shop}"
    lines = ["[shopify]"] + [f"{k} = {json.dumps(v)}" for k, v in values.items()]
    location = store or str(tmp_path / "connector.db")
    lines += ["[database]", f"{'url' if is_postgres(location) else 'path'} = {json.dumps(location)}",
              "[target]", 'kind = "dry-run"', "all_shops = true", "[worker]", "poll_interval_s = 0.01", "concurrency = 2"]
    path = tmp_path / "config.toml"
    path.write_text("\n".join(lines) + "\n" + shops_toml, encoding="utf-8")
    return load_settings(path, env={})


def signed_query(params: Mapping[str, str], secret: str = API_SECRET) -> str:
    """A query string as Shopify sends it on install links and OAuth callbacks."""
    full = {"timestamp": str(int(time.time())), **params}
    full["hmac"] = sign_oauth_params(full, secret)
    return urlencode(full)


def post_webhook(client: Any, topic: str, body: bytes, shop: str = SHOP, webhook_id: str | None = None,
                 secret: str = API_SECRET) -> Any:
    return client.post(
        "/webhooks/shopify", data=body,
        headers={
            "Content-Type": "application/json", "X-Shopify-Topic": topic, "X-Shopify-Shop-Domain": shop,
            "X-Shopify-Hmac-Sha256": sign_body(body, secret),
            "X-Shopify-Webhook-Id": webhook_id or str(uuid.uuid4()), "X-Shopify-API-Version": "2026-10",
        },
    )


def fixture_bytes(name: str, **replace: str) -> bytes:
    text = (FIXTURES / name).read_text(encoding="utf-8")
    for old, new in replace.items():
        text = text.replace(old, new)
    return text.encode("utf-8")


def database_bytes(settings: Settings) -> bytes:
    """What a copy of the store reveals: the SQLite file's bytes after moving the WAL in; on
    PostgreSQL every row of every table (what a dump holds; dead row versions on the server's
    disk are vacuumed after a redaction, see docs/deploy.md)."""
    if settings["database.url"]:
        return _every_row(settings["database.url"])
    path = settings["database.path"]
    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
    data = Path(path).read_bytes()
    wal = Path(path + "-wal")
    return data + (wal.read_bytes() if wal.exists() else b"")


def _every_row(url: str) -> bytes:
    db = connect(url)
    try:
        tables = [r[0] for r in db.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")]
        found = []
        for table in tables:
            for row in db.execute(f"SELECT * FROM {table}"):
                found += [bytes(v) if isinstance(v, (bytes, memoryview)) else str(v).encode() for v in row]
        return b"\n".join(found)
    finally:
        db.close()


def rows(settings: Settings, sql: str, params: tuple = ()) -> list[tuple]:
    db = connect(location_of(settings))
    try:
        return [tuple(row) for row in db.execute(sql, params).fetchall()]
    finally:
        db.close()
