"""Fuzzing the worker: random signed events of every topic through the real app and a real worker.

Properties, with a fixed budget and derandomized like tests/test_fuzz_intake.py: the worker
survives every event (no exception out of ``run``, no error caught by its loop), every stored
event leaves ``new`` for a state an operator can read (terminal, or ``queued`` under an order
whose status says why), every event kept aside says why — and a valid order of another shop,
posted behind each random event, is still delivered.

Bodies are real Shopify fixtures with random fields replaced (wrong types, Unicode digits,
deep nesting, long lists), random JSON, and byte strings that are no JSON at all; headers carry
matching and foreign shops, fresh and ancient ``X-Shopify-Triggered-At``.
"""

from __future__ import annotations

import itertools
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from connector.app import create_app
from connector.config import Settings, load_settings
from connector.sandbox.http_target import HttpTargetStandIn
from connector.shopify.verify import sign_body
from connector.store.db import close_thread_dbs, connect
from connector.worker.loop import Worker
from tests.conftest import SECRET, SHOP, fixture_bytes

CANARY_SHOP = "canary-shop.myshopify.com"  # never sent a random event: its orders must always deliver
SHOPS = [SHOP, SHOP, "stranger.myshopify.com", CANARY_SHOP.replace("canary", "other")]
TOPICS = ["orders/create", "orders/updated", "orders/paid", "orders/cancelled", "orders/fulfilled",
          "orders/partially_fulfilled", "orders/delete", "fulfillments/create", "fulfillments/update",
          "refunds/create", "app/uninstalled", "app/scopes_update", "customers/data_request",
          "customers/redact", "shop/redact", "products/update"]
FIXTURES = {
    "order": json.loads(fixture_bytes("orders_create.shopify-docs-sample.exact-ids.json")),
    "fulfillment": json.loads(fixture_bytes("fulfillments_create.shopify-docs-2026-04.json")),
    "refund": json.loads(fixture_bytes("refunds_create.shopify-docs-2026-04.json")),
    "redact": json.loads(fixture_bytes("customers_redact.shopify-docs-2026-04.json").replace(b"{shop}.myshopify.com", b"__SHOP__")),
    "shop": {"id": 548380009, "name": "Test", "myshopify_domain": "__SHOP__", "domain": "shop.example.com"},
    "scopes": {"id": 1, "shop_id": "gid://shopify/Shop/1", "previous": ["read_orders"], "current": ["read_orders"]},
    "data_request": {"shop_id": 1, "shop_domain": "__SHOP__", "customer": {"id": 191167, "email": "john@example.com"},
                     "orders_requested": [299938], "data_request": {"id": 9999}},
}
LIMITS = {"worker.max_line_items": 40, "worker.max_json_depth": 24}  # small, so the limits are reached cheaply
FUZZ = settings(max_examples=150, derandomize=True, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.function_scoped_fixture])
canary_ids = itertools.count(1)


def nested(depth: int) -> Any:
    value: Any = "x"
    for n in range(depth):
        value = [value] if n % 2 else {"n": value}
    return value


scalars = (st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70) | st.floats()
           | st.text(max_size=10) | st.sampled_from(["²³", "١٢٣", "0", "-1", "1e999999", "", "gid://shopify/Order/1"]))
small_json = st.recursive(scalars, lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=6), c, max_size=3),
                          max_leaves=8)
json_values = st.one_of(
    small_json, small_json, small_json, small_json,  # mostly wrong types; now and then too deep or too long
    st.integers(min_value=10, max_value=60).map(nested),
    st.integers(min_value=30, max_value=60).map(lambda n: [{"id": i + 1, "quantity": 1} for i in range(n)]),
)


@st.composite
def bodies(draw: Any) -> bytes:
    kind = draw(st.sampled_from([*FIXTURES, "random", "bytes"]))
    if kind == "bytes":
        return draw(st.sampled_from([b"", b"{", b"[]", b"null", b"\xff\xfe", b"[" * 5000, b'{"id": 1}' * 3]) | st.binary(max_size=64))
    if kind == "random":
        return json.dumps(draw(json_values)).encode()
    doc = json.loads(json.dumps(FIXTURES[kind]))
    for key in draw(st.lists(st.sampled_from(sorted(doc)), max_size=4, unique=True)):
        doc[key] = draw(json_values)
    if draw(st.booleans()) and "shop_domain" in doc:
        doc["shop_domain"] = draw(st.sampled_from(SHOPS))  # often another shop's: a replay
    return json.dumps(doc).encode()  # "__SHOP__" becomes the header's shop when posted


def triggered_at(age: str) -> str | None:
    offsets = {"fresh": timedelta(0), "retry": timedelta(hours=3), "ancient": timedelta(days=9)}
    if age == "garbage":
        return "not a time"
    if age == "missing":
        return None
    return (datetime.now(UTC) - offsets[age]).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture(scope="module")
def target() -> Iterator[HttpTargetStandIn]:
    with HttpTargetStandIn() as standin:
        yield standin  # type: ignore[misc]


@pytest.fixture(scope="module")
def fuzz_settings(tmp_path_factory: pytest.TempPathFactory, target: HttpTargetStandIn) -> Settings:
    tmp = tmp_path_factory.mktemp("fuzz-worker")
    (tmp / "config.toml").write_text(f'[shops."{SHOP}"]\n[shops."{CANARY_SHOP}"]\n')
    return load_settings(tmp / "config.toml", env={}, overrides={
        "shopify.api_secret": SECRET, "database.path": str(tmp / "fuzz.db"), "target.kind": "http",
        "target.base_url": target.url, "target.timeout_s": 2, "retry.first_delay_s": 0.01,
        "retry.in_process_window_s": 1, "retry.in_process_attempts": 2, "retry.max_delay_s": 0.05,
        "worker.poll_interval_s": 0.01, "target.all_shops": True, **LIMITS,
    })


@pytest.fixture(scope="module")
def client(fuzz_settings: Settings):  # type: ignore[no-untyped-def]
    yield create_app(settings=fuzz_settings).test_client()
    close_thread_dbs()


@pytest.fixture(scope="module")
def db(fuzz_settings: Settings):  # type: ignore[no-untyped-def]
    database = connect(fuzz_settings["database.path"])
    yield database
    database.close()


def post(client: Any, body: bytes, topic: str, shop: str, sent_at: str | None) -> Any:
    body = body.replace(b"__SHOP__", shop.encode())
    headers = {"X-Shopify-Topic": topic, "X-Shopify-Shop-Domain": shop, "X-Shopify-Hmac-Sha256": sign_body(body, SECRET),
               "X-Shopify-Webhook-Id": uuid.uuid4().hex, "Content-Type": "application/json"}
    if sent_at:
        headers["X-Shopify-Triggered-At"] = sent_at
    return client.post("/webhooks/shopify", data=body, headers=headers)


def canary_order() -> tuple[str, bytes]:
    order = json.loads(json.dumps(FIXTURES["order"]))
    order_id = str(10**12 + next(canary_ids))
    order.update(id=int(order_id), admin_graphql_api_id=f"gid://shopify/Order/{order_id}", cancelled_at=None)
    return order_id, json.dumps(order).encode()


@FUZZ
@given(body=bodies(), topic=st.sampled_from(TOPICS), shop=st.sampled_from(SHOPS),
       age=st.sampled_from(["fresh", "fresh", "retry", "ancient", "garbage", "missing"]))
@example(body=json.dumps({"a": nested(400)}).encode(), topic="orders/create", shop=SHOP, age="fresh")
@example(body=json.dumps({**FIXTURES["data_request"], "customer": {"id": 1, "email": {"x": 1}}}).encode(),
         topic="customers/data_request", shop=SHOP, age="fresh")
@example(body=json.dumps({"shop_id": 1, "shop_domain": SHOP}).encode(), topic="shop/redact", shop=SHOP, age="fresh")
def test_the_worker_survives_every_event_and_valid_orders_still_deliver(client, db, fuzz_settings, target, body, topic, shop, age):
    before = db.execute("SELECT coalesce(max(id), 0) FROM events").fetchone()[0]
    response = post(client, body, topic, shop, triggered_at(age))
    assert response.status_code < 500
    canary_id, canary = canary_order()
    assert post(client, canary, "orders/create", CANARY_SHOP, triggered_at("fresh")).status_code == 200

    stats = Worker(fuzz_settings).run(once=True)  # raises if anything escapes the worker
    close_thread_dbs()

    assert stats.loop_errors == 0 and stats.storage_errors == 0
    assert f"/orders/{CANARY_SHOP}/{canary_id}" in target.documents
    rows = db.execute("SELECT topic, shop, state, reason, order_id FROM events WHERE id > ?", [before]).fetchall()
    for event_topic, event_shop, state, reason, order_id in rows:
        if event_shop != CANARY_SHOP:
            event(f"{event_topic}: {state}")  # --hypothesis-show-statistics shows what was reached
        assert state != "new", rows
        if state in ("invalid", "suspect", "held", "ignored", "dead"):
            assert reason, rows
        if state == "queued":  # only where the order's status or its shop's install tells the operator why
            status = db.execute("SELECT status FROM orders WHERE shop = ? AND order_id = ?", [event_shop, order_id]).fetchone()
            uninstalled = db.execute("SELECT uninstalled_at FROM shops WHERE shop = ?", [event_shop]).fetchone()
            assert (status and status[0] in ("retrying", "dead")) or (uninstalled and uninstalled[0]), (rows, status)
