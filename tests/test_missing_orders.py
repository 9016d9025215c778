"""A fulfillment whose order never arrives (issue 12.6): fetched from Shopify, or settled soon.

Real parts: the Shopify Admin API stand-in, the strict Foxdeli and parcelLab stand-ins, the
Flask app receiving signed webhooks, the worker and its job scheduler.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from connector.app import create_app
from connector.metrics import StoreCollector
from connector.resync.scheduler import JobScheduler
from connector.sandbox.foxdeli import ESHOP_ID, FoxdeliStandIn
from connector.sandbox.parcellab import ParcellabStandIn
from connector.sandbox.shopify_admin import ShopifyAdminStandIn
from connector.shopify.order_shape import map_fulfillment, map_graphql_order
from connector.store.db import close_thread_dbs, db_for
from connector.store.events import oldest_open_event_age_s
from connector.store.jobs import get_job
from connector.timeutil import db_time_in
from connector.worker.loop import Worker
from tests.support import SHOP, custom_app, execute, make_settings, post_webhook, query

pytestmark = pytest.mark.both_engines

PL_TOKEN = "cGwtbWlzc2luZzp0b2tlbg=="
PL_ACCOUNT = 1700002


@pytest.fixture
def shopify():
    with ShopifyAdminStandIn(orders=3, restore_rate=5000) as standin:
        yield standin


@pytest.fixture(params=["foxdeli", "parcellab"])
def target(request):
    if request.param == "foxdeli":
        with FoxdeliStandIn() as fox:
            yield "foxdeli", fox, {"target.kind": "foxdeli", "target.base_url": fox.url, "target.username": fox.username,
                                   "target.password": fox.password, "target.eshop_id": ESHOP_ID}
            assert fox.invalid_requests == []
    else:
        with ParcellabStandIn(token=PL_TOKEN) as pl:
            yield "parcellab", pl, {"target.kind": "parcellab", "target.base_url": pl.url, "target.token": PL_TOKEN,
                                    "target.account": str(PL_ACCOUNT), "target.carriers": {"PPL": "dpd", "UPS": "ups",
                                    "DHL Express": "dhl-express", "Zásilkovna": "gls"}}
            assert pl.invalid_requests == []


def world(tmp_path: Path, db_path: str, shop: dict[str, Any], target_values: dict[str, Any], **values: Any):  # type: ignore[no-untyped-def]
    settings = make_settings(tmp_path, shop, store=db_path, **{"worker.reconcile_interval_s": 0, **target_values, **values})
    return settings, create_app(settings=settings).test_client(), db_for(settings)


def post_fulfillment_only(client, shopify: ShopifyAdminStandIn) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    """The fulfillment of the stand-in's first order reaches us; the order's webhooks never do."""
    order_id = shopify.order_ids()[0]  # fulfilled, with a tracking number
    node = shopify.orders[f"gid://shopify/Order/{order_id}"]
    fulfillment = map_fulfillment(node["fulfillments"][0], order_id)
    assert post_webhook(client, "fulfillments/create", fulfillment).status_code == 200
    return str(order_id), fulfillment["tracking_number"]


def numbers_at_target(kind: str, standin: Any, shopify: ShopifyAdminStandIn, order_id: str) -> list[str]:
    if kind == "foxdeli":
        order = standin.order_by_external(order_id) or {}
        return [t["number"] for p in order.get("parcels", []) for t in p["tracking"]]
    name = shopify.orders[f"gid://shopify/Order/{order_id}"]["name"]
    return [n for (_, n), t in standin.trackings.items() if t["order"] == (PL_ACCOUNT, name)]


def order_row(db_path: str, order_id: str) -> dict[str, Any]:
    return query(db_path, "SELECT status, last_error, order_missing_since, order_fetched_at FROM orders "
                          "WHERE shop = ? AND order_id = ?", [SHOP, order_id])[0]


def pending_age_gauge(settings) -> float:  # type: ignore[no-untyped-def]
    metric = next(m for m in StoreCollector(lambda: db_for(settings)).collect()
                  if m.name == "connector_oldest_pending_event_age_seconds")
    return metric.samples[0].value


def test_with_a_token_the_missing_order_is_fetched_from_shopify(tmp_path, db_path, shopify, target) -> None:
    kind, standin, values = target
    settings, client, db = world(tmp_path, db_path, custom_app(shopify.url), values, **{"worker.missing_order_fetch_s": 30})
    order_id, number = post_fulfillment_only(client, shopify)
    assert Worker(settings).run(once=True).dead == 0
    row = order_row(db_path, order_id)
    assert row["status"] == "retrying" and row["order_missing_since"] and "order" in row["last_error"]
    assert numbers_at_target(kind, standin, shopify, order_id) == []
    # Waiting for a lost webhook is not a delivery delay: the "> 15 min" alert stays quiet.
    assert oldest_open_event_age_s(db) is None and pending_age_gauge(settings) == 0.0

    scheduler = JobScheduler(settings)
    assert scheduler.tick(db, force=True) == []  # a short wait first: the webhook may only be late
    execute(db_path, "UPDATE orders SET created_at = ? WHERE order_id = ?", [db_time_in(-31), order_id])
    started = scheduler.tick(db, force=True)
    assert len(started) == 1
    scheduler.threads[started[0]].join(20)
    job = get_job(db, started[0])
    assert (job["status"], job["requested_by"], job["params"]["order_ids"]) == ("done", "worker", [order_id])
    assert (job["fetched"], job["queued"]) == (1, 1)
    assert order_row(db_path, order_id)["order_fetched_at"]

    assert Worker(settings).run(once=True).dead == 0
    assert numbers_at_target(kind, standin, shopify, order_id) == [number]
    assert order_row(db_path, order_id)["status"] == "synced"
    assert scheduler.tick(db, force=True) == []  # asked once
    close_thread_dbs()


def test_without_a_token_the_wait_is_settled_soon_with_the_reason(tmp_path, db_path, shopify, target) -> None:
    kind, standin, values = target
    # Waits of seconds between attempts, so that one run of the worker tries once.
    settings, client, db = world(tmp_path, db_path, {}, values, **{
        "worker.missing_order_fetch_s": 0.1, "worker.missing_order_give_up_s": 3, "retry.first_delay_s": 1,
        "retry.max_delay_s": 30})
    order_id, number = post_fulfillment_only(client, shopify)
    assert Worker(settings).run(once=True).retrying == 1
    if kind == "foxdeli":  # one look for the order there, not a round of in-process retries
        assert [r.method for r in standin.requests if r.path == "/tracking/api/v1/order"] == ["GET"]
    assert order_row(db_path, order_id)["status"] == "retrying"
    time.sleep(0.2)
    assert JobScheduler(settings).tick(db, force=True) == []  # nothing to fetch with
    assert oldest_open_event_age_s(db) is None

    time.sleep(3)
    execute(db_path, "UPDATE orders SET next_attempt_at = ? WHERE order_id = ?", [db_time_in(-1), order_id])
    assert Worker(settings).run(once=True).dead == 1
    failure = query(db_path, "SELECT reason FROM failures WHERE order_id = ?", [order_id])[0]
    assert f"its order {order_id} never arrived" in failure["reason"]
    assert "no Admin API token" in failure["reason"] and f"connector resync --order {order_id}" in failure["reason"]
    assert order_row(db_path, order_id)["status"] == "dead"
    assert query(db_path, "SELECT state FROM events WHERE topic = 'fulfillments/create'")[0]["state"] == "dead"
    assert oldest_open_event_age_s(db) is None

    # The order's webhook turns up after all (one of Shopify's later retries): both are delivered.
    order = map_graphql_order(shopify.orders[f"gid://shopify/Order/{order_id}"])
    assert post_webhook(client, "orders/create", order).status_code == 200
    assert Worker(settings).run(once=True).dead == 0
    assert numbers_at_target(kind, standin, shopify, order_id) == [number]
    close_thread_dbs()
