"""The test helpers, in one place: the test shop, settings on a temporary database, signed
webhooks, fixture payloads, and a look at the SQLite file.

``conftest.py`` builds its fixtures from these; test modules import them from here.
"""

from __future__ import annotations

import json
import sqlite3
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from connector.config import Settings, load_settings
from connector.crypto import generate_key
from connector.shopify.verify import sign_body, sign_oauth_params
from connector.store.db import connect, connect_sqlite, is_postgres, location_of
from connector.store.journal import file_journals
from tests.golden import FIXTURES_DIR

SHOP = "demo-shop.myshopify.com"  # the one test shop
SECRET = "test-secret-0123456789"  # shopify.api_secret: signs webhooks and OAuth requests
API_KEY = "test-client-id"
APP_URL = "https://connector.example"
ADMIN_TOKEN = "admin-token"
TOKEN_KEY = generate_key()  # shopify.token_encryption_key
TRIGGERED_AT = "2026-11-25T10:00:00Z"
DOCS_ORDER = "orders_create.shopify-docs-sample.exact-ids.json"
OLD_ORDER = "orders_create.shopify-test-notification-2017.json"
ORDER_ID = "820982911946154508"


# -- settings -----------------------------------------------------------------------------------
def store_settings(location: str) -> dict[str, str]:
    """The database.* setting that points at ``location`` (a SQLite file or a PostgreSQL URL)."""
    return {"database.url": location} if is_postgres(location) else {"database.path": location}


def fast_settings(db_path: str, **target: Any) -> dict[str, Any]:
    """``section.key`` values for a fast test: tiny retry delays and polls, plus ``target.*`` keys."""
    return {
        "shopify.api_secret": SECRET,
        **store_settings(db_path),
        "admin.token": ADMIN_TOKEN,
        "target.timeout_s": 2,
        "retry.first_delay_s": 0.01,
        "retry.in_process_window_s": 2,
        "retry.in_process_attempts": 2,
        "retry.max_delay_s": 0.05,
        "worker.poll_interval_s": 0.05,
        "worker.lease_s": 30,
        "worker.metrics_port": 0,  # a running Worker would listen on 9101 otherwise
        # One shop, the global account: the tenancy tests (tests/test_tenancy*.py) turn this off.
        "target.all_shops": True,
        **{f"target.{key}": value for key, value in target.items()},
    }


def make_settings(
    tmp_path: Path, shop: Mapping[str, Any] | None = None, admin_base: str | None = None, store: str | None = None,
    **values: Any,
) -> Settings:
    """Settings of a public app, from a real TOML file (the CLI can take ``settings.source`` as
    ``--config``).

    ``shop`` is the test shop's ``[shops."<SHOP>"]`` table (None: the shop is not configured and
    must install the app); ``admin_base`` points Shopify's OAuth and Admin API at a stand-in;
    ``store`` is the test's ``db_path`` (a SQLite file or a PostgreSQL URL; default a file in
    ``tmp_path``); ``values`` are ``section.key`` settings that win over everything.
    """
    merged: dict[str, Any] = {
        **fast_settings(store or str(tmp_path / "connector.db")),
        "shopify.api_key": API_KEY, "shopify.app_url": APP_URL, "shopify.token_encryption_key": TOKEN_KEY,
    }
    if admin_base:
        merged["shopify.admin_base_url_template"] = admin_base + "/shops/{shop}"
    merged.update(values)
    path = tmp_path / "config.toml"
    path.write_text(_toml(merged, {SHOP: shop} if shop is not None else {}), encoding="utf-8")
    return load_settings(path, env={})


def custom_app(admin_url: str | None = None, token: str = "shpat_standin") -> dict[str, str]:
    """The test shop's table for a custom app: its Admin API token (and where that API is)."""
    return {"access_token": token, **({"admin_url": admin_url} if admin_url else {})}


def with_values(settings: Settings, **values: Any) -> Settings:
    """``settings`` with some ``section.key`` values changed."""
    return Settings({**settings.values, **values}, settings.shops, settings.source)


def _toml(values: Mapping[str, Any], shops: Mapping[str, Mapping[str, Any]]) -> str:
    sections: dict[str, list[str]] = {}
    for name, value in values.items():
        section, key = name.split(".", 1)
        sections.setdefault(section, []).append(f"{key} = {_toml_value(value)}")
    for shop, table in shops.items():
        sections[f'shops."{shop}"'] = [f"{key} = {_toml_value(value)}" for key, value in table.items()]
    return "".join(f"[{section}]\n" + "".join(line + "\n" for line in lines) for section, lines in sections.items())


def _toml_value(value: Any) -> str:
    if isinstance(value, Mapping):
        return "{ " + ", ".join(f"{json.dumps(str(k))} = {_toml_value(v)}" for k, v in value.items()) + " }"
    return json.dumps(value)  # strings, numbers and booleans are spelled alike in JSON and TOML


# -- webhooks and signed requests ---------------------------------------------------------------
def webhook_headers(body: bytes, topic: str = "orders/create", shop: str = SHOP, secret: str = SECRET,
                    webhook_id: str | None = None, event_id: str | None = None,
                    triggered_at: str | None = "now") -> dict[str, str]:
    """The headers Shopify sends with a webhook, HMAC included."""
    headers = {
        "Content-Type": "application/json",
        "X-Shopify-Topic": topic,
        "X-Shopify-Shop-Domain": shop,
        "X-Shopify-Hmac-Sha256": sign_body(body, secret),
        "X-Shopify-Webhook-Id": webhook_id or str(uuid.uuid4()),
        "X-Shopify-API-Version": "2026-10",
    }
    if triggered_at == "now":  # as Shopify sends it: a moment ago (much older ones are suspect)
        triggered_at = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    if triggered_at:
        headers["X-Shopify-Triggered-At"] = triggered_at
    if event_id:
        headers["X-Shopify-Event-Id"] = event_id
    return headers


def post_webhook(client: Any, topic: str, body: bytes | Mapping[str, Any], triggered_at: str | None = None,
                 **headers: Any) -> Any:
    """POST a correctly signed webhook to a Flask test client. ``body`` is bytes, or JSON to encode.

    No ``X-Shopify-Triggered-At`` unless given: lifecycle handlers compare it with the install time.
    A webhook answered from the intake journal is then filed, as the worker would file it, so
    the test can read its event at once.
    """
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    response = client.post("/webhooks/shopify", data=raw, headers=webhook_headers(raw, topic, triggered_at=triggered_at, **headers))
    file_journaled(client.application)
    return response


def file_journal(location: str) -> int:
    """File the intake journal of the SQLite store ``location``, as ``connector worker`` would:
    what a served web process answered is in the events table once this returns."""
    if is_postgres(location):
        return 0
    db = connect_sqlite(location)
    try:
        return file_journals(db, location, wait=True)
    finally:
        db.close()


def file_journaled(app: Any) -> int:
    """File what ``app`` (a Flask app on SQLite) has answered from its intake journal."""
    if not app.config.get("INTAKE_JOURNAL"):
        return 0
    return file_journal(location_of(app.config["SETTINGS"]))


def signed_query(params: Mapping[str, str], secret: str = SECRET) -> str:
    """A query string as Shopify sends it on install links and OAuth callbacks."""
    full = {"timestamp": str(int(time.time())), **params}
    full["hmac"] = sign_oauth_params(full, secret)
    return urlencode(full)


def auth(token: str = ADMIN_TOKEN) -> dict[str, str]:
    """The admin API's bearer header."""
    return {"Authorization": f"Bearer {token}"}


# -- payloads -----------------------------------------------------------------------------------
def fixture_bytes(name: str, **replace: str) -> bytes:
    """A Shopify payload from tests/fixtures as bytes, with some text replaced when asked."""
    if not replace:
        return (FIXTURES_DIR / name).read_bytes()
    text = (FIXTURES_DIR / name).read_text(encoding="utf-8")
    for old, new in replace.items():
        text = text.replace(old, new)
    return text.encode("utf-8")


def order_body(name: str = DOCS_ORDER, **changes: Any) -> bytes:
    """A real fixture order, optionally with fields changed (ids stay exact: Python ints)."""
    if not changes:
        return fixture_bytes(name)
    order = json.loads(fixture_bytes(name))
    order.update(changes)
    return json.dumps(order).encode()


def live_order(name: str = DOCS_ORDER, **changes: Any) -> bytes:
    """A fixture order that is not cancelled (Shopify's documented sample is)."""
    return order_body(name, cancelled_at=None, cancel_reason=None, **changes)


def documented_fulfillment(**changes: Any) -> dict[str, Any]:
    """Shopify's documented fulfillment, attached to the documented order (its order_id is float-rounded)."""
    body = json.loads(fixture_bytes("fulfillments_create.shopify-docs-2026-04.json"))
    body["order_id"] = int(ORDER_ID)
    body.update(changes)
    return body


# -- the store -----------------------------------------------------------------------------------
def database_bytes(settings: Settings) -> bytes:
    """What a copy of the store reveals: the SQLite file's bytes after moving the WAL in; on
    PostgreSQL every row of every table (what a dump holds; dead row versions on the server's
    disk are vacuumed after a redaction, see docs/deploy.md)."""
    if settings["database.url"]:
        return _every_row(settings["database.url"])
    path = settings["database.path"]
    conn = sqlite3.connect(path)
    try:
        # Another connection's checkpoint (the web app's checkpoint thread, the worker's after a
        # privacy event) makes this one answer busy at once, leaving the WAL's newer pages out
        # of the file read below: wait until a whole checkpoint is ours.
        deadline = time.monotonic() + 10
        while conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0] and time.monotonic() < deadline:
            time.sleep(0.02)
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


@contextmanager
def writes_blocked(db_path: str) -> Iterator[None]:
    """Another process holds the store's write lock: SQLite's (``BEGIN IMMEDIATE``), or on
    PostgreSQL every table locked against writes (reads still go on, as with SQLite)."""
    if not is_postgres(db_path):
        blocker = sqlite3.connect(db_path, isolation_level=None)
        blocker.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
        return
    import psycopg

    with psycopg.connect(db_path) as blocker:  # a transaction until the block ends
        tables = [row[0] for row in blocker.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")]
        blocker.execute(f"LOCK TABLE {', '.join(tables)} IN EXCLUSIVE MODE")
        try:
            yield
        finally:
            blocker.rollback()


def rows(settings: Settings, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Rows of one query as tuples, on a handle of its own that is closed afterwards."""
    db = connect(location_of(settings))
    try:
        return [tuple(row) for row in db.execute(sql, params).fetchall()]
    finally:
        db.close()


def query(db_path: str, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
    """Rows of one query as dicts, on a handle of its own that is closed afterwards."""
    db = connect(db_path)
    try:
        return db.query_rows(sql, params)
    finally:
        db.close()


def scalar(db_path: str, sql: str, params: Sequence[Any] = ()) -> Any:
    """The first column of the first row of one query (None when there is no row)."""
    found = query(db_path, sql, params)
    return next(iter(found[0].values())) if found else None


def tuples(db_path: str, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    """Rows of one query as tuples, on a handle of its own that is closed afterwards."""
    db = connect(db_path)
    try:
        return [tuple(row) for row in db.execute(sql, params).fetchall()]
    finally:
        db.close()


def execute(db_path: str, sql: str, params: Sequence[Any] = ()) -> None:
    """One write statement, committed, on a handle of its own that is closed afterwards."""
    from connector.store.db import write_transaction

    db = connect(db_path)
    try:
        with write_transaction(db):
            db.execute(sql, params)
    finally:
        db.close()
