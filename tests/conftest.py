"""Shared fixtures: a real Flask app on a temporary SQLite file, signed webhooks, a worker."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
import sqlite_utils
from hypothesis import settings as hypothesis_settings

from connector.app import create_app
from connector.config import Settings, load_settings
from connector.store.db import close_thread_dbs, connect
from connector.shopify.verify import sign_body
from connector.worker.loop import Worker, WorkerStats
from tests.golden import FIXTURES_DIR
from tests.standins.http_target import HttpTargetStandIn

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
        "X-Shopify-Triggered-At": "2026-11-25T10:00:00Z",
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


@pytest.fixture
def db_path(tmp_path: Path) -> str:
    return str(tmp_path / "connector.db")


@pytest.fixture
def target() -> Iterator[HttpTargetStandIn]:
    with HttpTargetStandIn() as standin:
        yield standin  # type: ignore[misc]


def fast_settings(db_path: str, **target: Any) -> dict[str, Any]:
    """Overrides for a fast test: tiny retry delays and polls, plus the given target.* keys."""
    return {
        "shopify.api_secret": SECRET,
        "database.path": db_path,
        "admin.token": "admin-token",
        "target.timeout_s": 2,
        "retry.first_delay_s": 0.01,
        "retry.in_process_window_s": 2,
        "retry.in_process_attempts": 2,
        "retry.max_delay_s": 0.05,
        "worker.poll_interval_s": 0.05,
        "worker.lease_s": 30,
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
    database = connect(db_path)
    yield database
    database.close()
