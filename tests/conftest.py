"""Shared fixtures: a real Flask app on a temporary store, signed webhooks, a worker.

The store is a SQLite file, or — in modules marked ``both_engines`` (each test runs twice) and
tests marked ``postgres_only`` — a database of its own on a real PostgreSQL server that the
session starts (:mod:`tests.pg_server`). A test of such a module that only makes sense on SQLite
(file locks, WAL, PRAGMAs) is marked ``sqlite_only``; an end-to-end test too slow to run twice
runs on the one engine its ``one_engine`` marker names (the module's other tests cover its SQL
on both). Without a server and its binaries the
PostgreSQL runs are skipped with what to install; under ``CI=true`` they fail instead.
"""

from __future__ import annotations

import json
import os
import sqlite3
import uuid
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
import sqlite_utils
from hypothesis import settings as hypothesis_settings

from connector.app import create_app
from connector.config import Settings, load_settings
from connector.store.db import close_shared_dbs, close_thread_dbs, connect, is_postgres
from connector.shopify.verify import sign_body
from connector.worker.loop import Worker, WorkerStats
from tests.external_tools import missing
from tests.golden import FIXTURES_DIR
from tests.pg_server import INSTALL_HINT, PgServer, find_bindir
from connector.sandbox.http_target import HttpTargetStandIn

# Property tests run the same examples every time (CI must not turn red by luck); a failure
# they ever found is kept as an explicit regression test.
hypothesis_settings.register_profile("connector", derandomize=True, database=None)
hypothesis_settings.load_profile("connector")

SECRET = "test-secret-0123456789"
SHOP = "test-shop.myshopify.com"
DOCS_ORDER = "orders_create.shopify-docs-sample.exact-ids.json"
OLD_ORDER = "orders_create.shopify-test-notification-2017.json"
ORDER_ID = "820982911946154508"


def fixture_bytes(name: str) -> bytes:
    return (FIXTURES_DIR / name).read_bytes()


def webhook_headers(body: bytes, topic: str = "orders/create", shop: str = SHOP, secret: str = SECRET,
                    webhook_id: str | None = None, event_id: str | None = None) -> dict[str, str]:
    headers = {
        "Content-Type": "application/json",
        "X-Shopify-Topic": topic,
        "X-Shopify-Shop-Domain": shop,
        "X-Shopify-Hmac-Sha256": sign_body(body, secret),
        "X-Shopify-Webhook-Id": webhook_id or str(uuid.uuid4()),
        "X-Shopify-API-Version": "2026-10",
        # As Shopify sends it: when the event happened, a moment ago (older ones are suspect).
        "X-Shopify-Triggered-At": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
    }
    if event_id:
        headers["X-Shopify-Event-Id"] = event_id
    return headers


def order_body(name: str = DOCS_ORDER, **changes: Any) -> bytes:
    """A real fixture order, optionally with fields changed (ids stay exact: Python ints)."""
    if not changes:
        return fixture_bytes(name)
    order = json.loads(fixture_bytes(name))
    order.update(changes)
    return json.dumps(order).encode()


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Run a test on both engines where its module (or class) is marked ``both_engines``."""
    if "engine" not in metafunc.fixturenames:
        return
    marked = metafunc.definition.get_closest_marker
    one = marked("one_engine")
    if marked("postgres_only"):
        metafunc.parametrize("engine", ["postgres"])
    elif one and marked("both_engines"):
        metafunc.parametrize("engine", [one.args[0]])
    elif marked("both_engines") and not marked("sqlite_only"):
        metafunc.parametrize("engine", ["sqlite", "postgres"])


@pytest.fixture
def engine() -> str:
    """The store's engine for this test: SQLite unless the test is parametrised."""
    return "sqlite"


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    url = os.environ.get("CONNECTOR_TEST_PG_URL")
    if url:
        yield PgServer(url)
        return
    bindir = find_bindir()
    if bindir is None:
        missing(f"no PostgreSQL server binaries (initdb) for the store's tests: {INSTALL_HINT}")
    server = PgServer.start(bindir)
    yield server
    close_shared_dbs()
    server.stop()


@pytest.fixture
def db_path(engine: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    """Where this test's store is: a SQLite file, or the URL of an empty, migrated PostgreSQL
    database of its own (given back for the next test afterwards). ``connect(db_path)`` opens either."""
    if engine == "sqlite":
        yield str(tmp_path / "connector.db")
        return
    server: PgServer = request.getfixturevalue("pg_server")
    url = server.new_database()
    yield url
    close_shared_dbs()
    server.recycle(url)


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


def store_settings(db_path: str) -> dict[str, Any]:
    """The database.* override that points at ``db_path`` (a file or a PostgreSQL URL)."""
    return {"database.url": db_path} if is_postgres(db_path) else {"database.path": db_path}


@pytest.fixture
def target() -> Iterator[HttpTargetStandIn]:
    with HttpTargetStandIn() as standin:
        yield standin  # type: ignore[misc]


def fast_settings(db_path: str, **target: Any) -> dict[str, Any]:
    """Overrides for a fast test: tiny retry delays and polls, plus the given target.* keys."""
    return {
        "shopify.api_secret": SECRET,
        **store_settings(db_path),
        "admin.token": "admin-token",
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


def live_order(name: str = DOCS_ORDER, **changes: Any) -> bytes:
    """A fixture order that is not cancelled (Shopify's documented sample is)."""
    return order_body(name, cancelled_at=None, cancel_reason=None, **changes)


def documented_fulfillment(**changes: Any) -> dict[str, Any]:
    """Shopify's documented fulfillment, attached to the documented order (its order_id is float-rounded)."""
    body = json.loads(fixture_bytes("fulfillments_create.shopify-docs-2026-04.json"))
    body["order_id"] = int(ORDER_ID)
    body.update(changes)
    return body


@pytest.fixture
def overrides(db_path: str, target: HttpTargetStandIn) -> dict[str, Any]:
    """Settings for a fast test against the http target stand-in."""
    return fast_settings(db_path, kind="http", base_url=target.url)


@pytest.fixture
def settings(overrides: dict[str, Any], tmp_path: Path) -> Settings:
    config = tmp_path / "config.toml"
    config.write_text(f'[shops."{SHOP}"]\n')
    return load_settings(config, env={}, overrides=overrides)


@pytest.fixture
def app(settings: Settings):  # type: ignore[no-untyped-def]
    app = create_app(settings=settings)
    app.config["TESTING"] = True
    yield app
    close_thread_dbs()
    close_shared_dbs()


@pytest.fixture
def client(app):  # type: ignore[no-untyped-def]
    return app.test_client()


@pytest.fixture
def post(client) -> Callable[..., Any]:  # type: ignore[no-untyped-def]
    """post(body, topic=..., **header options) → response."""

    def _post(body: bytes, topic: str = "orders/create", **kwargs: Any):  # type: ignore[no-untyped-def]
        return client.post("/webhooks/shopify", data=body, headers=webhook_headers(body, topic, **kwargs))

    return _post


@pytest.fixture
def run_worker(settings: Settings) -> Callable[..., WorkerStats]:
    def _run(**changes: Any) -> WorkerStats:
        worker_settings = settings
        if changes:
            worker_settings = Settings({**settings.values, **changes}, settings.shops, settings.source)
        return Worker(worker_settings).run(once=True)

    return _run


@pytest.fixture
def db(db_path: str, app) -> Iterator[sqlite_utils.Database]:  # type: ignore[no-untyped-def]
    """A handle of the test's own on the store (after the app migrated it)."""
    database = connect(db_path)
    yield database
    database.close()
