"""Reconciliation: orders whose webhook never arrived are found and delivered."""

from __future__ import annotations

from pathlib import Path

import pytest

from connector.app import create_app
from connector.resync.jobs import create_reconcile_job
from connector.resync.runner import run_job
from connector.resync.scheduler import JobScheduler
from connector.sandbox.shopify_admin import ShopifyAdminStandIn
from connector.sandbox.tracking_target import TrackingTargetStandIn
from connector.shopify.order_shape import map_graphql_order
from connector.store import jobs as job_store
from connector.store.db import close_thread_dbs, db_for
from connector.worker.loop import Worker
from tests.support import SHOP, custom_app, make_settings, post_webhook

pytestmark = pytest.mark.both_engines


@pytest.fixture
def world(tmp_path: Path, db_path: str):
    with ShopifyAdminStandIn(orders=40, restore_rate=5000) as shopify, TrackingTargetStandIn() as target:
        settings = make_settings(
            tmp_path, store=db_path, shop=custom_app(shopify.url),
            **{"target.kind": "http", "target.base_url": target.url, "shopify.page_size": 25,
               "worker.reconcile_interval_s": 0},
        )
        app = create_app(settings=settings)
        yield settings, app.test_client(), shopify, target
        close_thread_dbs()


def test_a_lost_webhook_is_recovered_by_reconciliation(world) -> None:
    settings, client, shopify, target = world
    ids = shopify.order_ids()
    lost_create, lost_update = ids[7], ids[21]
    for order_id in ids:
        if order_id != lost_create:  # this orders/create never reaches us
            body = map_graphql_order(shopify.orders[f"gid://shopify/Order/{order_id}"])
            assert post_webhook(client, "orders/create", body).status_code == 200
    Worker(settings).run(once=True)
    assert len(target.orders()) == 39
    shopify.touch(lost_update, email="changed@example.com")  # and this orders/updated is lost too

    db = db_for(settings)
    job = run_job(db, settings, create_reconcile_job(db, settings, SHOP, 30 * 86400, "r", "test"), "r")
    assert job["status"] == "done", job["error"]
    assert (job["fetched"], job["recovered"], job["skipped"]) == (40, 2, 38)
    # No fulfillments/* webhook reached us at all: the 14 fulfillments come with reconciliation.
    assert job["fulfillments"] == 14

    Worker(settings).run(once=True)
    assert len(target.orders()) == 40
    assert target.documents[f"/orders/{SHOP}/{lost_create}"]["order_id"] == lost_create
    assert target.documents[f"/orders/{SHOP}/{lost_update}"]["customer"]["email"] == "changed@example.com"
    assert target.writes[f"/orders/{SHOP}/{lost_update}"] == 2
    fulfillment_writes = sum(n for path, n in target.writes.items() if "/fulfillments/" in path)
    assert fulfillment_writes == 14
    assert sum(target.writes.values()) == 41 + 14  # nothing else was sent again

    # A second pass finds nothing new.
    again = run_job(db, settings, create_reconcile_job(db, settings, SHOP, 30 * 86400, "r", "test"), "r")
    assert (again["recovered"], again["queued"], again["skipped"], again["fulfillments"]) == (0, 0, 40, 0)


def test_an_untriaged_webhook_is_not_counted_as_recovered(world) -> None:
    settings, client, shopify, _ = world
    for gid in list(shopify.orders)[:5]:
        post_webhook(client, "orders/create", map_graphql_order(shopify.orders[gid]))
    db = db_for(settings)
    job = run_job(db, settings, create_reconcile_job(db, settings, SHOP, 30 * 86400, "r", "test"), "r")
    assert job["recovered"] == 35 and job["skipped"] == 5


def test_the_worker_schedules_reconciliation_per_interval(world, tmp_path: Path, db_path: str) -> None:
    _, _, shopify, _ = world
    settings = make_settings(tmp_path, store=db_path, shop=custom_app(shopify.url), **{"worker.reconcile_interval_s": 3600})
    db = db_for(settings)
    scheduler = JobScheduler(settings)
    started = scheduler.tick(db, force=True)
    assert len(started) == 1
    scheduler.threads[started[0]].join(10)
    job = job_store.get_job(db, started[0])
    assert job["kind"] == "reconcile" and job["status"] == "done" and job["requested_by"] == "worker"
    assert scheduler.tick(db, force=True) == []  # not due again for an hour
