"""Re-sync and reconciliation against the strict Foxdeli and parcelLab stand-ins.

Shopify's Admin API stand-in → a re-sync/reconcile job → the worker → the vendor stand-in, all
over real HTTP: what a re-synced order brings each target must be what its webhooks would have.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from connector.app import create_app, prepare_store
from connector.resync.jobs import create_reconcile_job, create_resync_job
from connector.resync.runner import run_job
from connector.resync.spec import ResyncSpec
from connector.sandbox.foxdeli import ESHOP_ID, FoxdeliStandIn
from connector.sandbox.parcellab import ParcellabStandIn
from connector.sandbox.shopify_admin import ShopifyAdminStandIn
from connector.shopify.order_shape import map_graphql_order
from connector.store.db import close_thread_dbs, db_for
from connector.worker.loop import Worker
from tests.support import SHOP, custom_app, make_settings, post_webhook

pytestmark = pytest.mark.both_engines

PL_TOKEN = "cGwtcmVzeW5jOnRva2Vu"
PL_ACCOUNT = 1700001
# The Shopify stand-in's carriers, as the merchant would map them for parcelLab.
PL_CARRIERS = {"PPL": "dpd", "Zásilkovna": "gls", "DHL Express": "dhl-express", "UPS": "ups"}


@pytest.fixture
def shopify() -> Iterator[ShopifyAdminStandIn]:
    # 40 orders, every third one fulfilled with a tracking number: 14 parcels to bring.
    with ShopifyAdminStandIn(orders=40, restore_rate=5000) as standin:
        yield standin


@pytest.fixture
def fox() -> Iterator[FoxdeliStandIn]:
    with FoxdeliStandIn() as standin:
        yield standin
        assert standin.invalid_requests == [], standin.invalid_requests


@pytest.fixture
def pl() -> Iterator[ParcellabStandIn]:
    with ParcellabStandIn(token=PL_TOKEN) as standin:
        yield standin
        assert standin.invalid_requests == [], [(r.body, e) for r, e in standin.invalid_requests]


def target_values(kind: str, standin: Any) -> dict[str, Any]:
    if kind == "foxdeli":
        return {"target.kind": "foxdeli", "target.base_url": standin.url, "target.username": standin.username,
                "target.password": standin.password, "target.eshop_id": ESHOP_ID}
    return {"target.kind": "parcellab", "target.base_url": standin.url, "target.token": PL_TOKEN,
            "target.account": str(PL_ACCOUNT), "target.carriers": PL_CARRIERS}


@pytest.fixture(params=["foxdeli", "parcellab"])
def world(request, tmp_path: Path, db_path: str, shopify: ShopifyAdminStandIn):  # type: ignore[no-untyped-def]
    kind = request.param
    standin = request.getfixturevalue("fox" if kind == "foxdeli" else "pl")
    settings = make_settings(
        tmp_path, custom_app(shopify.url), store=db_path,
        **{"shopify.page_size": 25, "worker.concurrency": 8, "worker.reconcile_interval_s": 0,
           **target_values(kind, standin)},
    )
    prepare_store(settings)
    yield kind, settings, db_for(settings), standin
    close_thread_dbs()


def resync(settings, db, **spec: Any) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    job = run_job(db, settings, create_resync_job(db, settings, ResyncSpec(shop=SHOP, **spec), "r", "test"), "r")
    assert job["status"] == "done", job["error"]
    return job


def order_total(kind: str, standin: Any, shopify: ShopifyAdminStandIn, order_id: int) -> float:
    """The order's value as the target holds it."""
    node = shopify.orders[f"gid://shopify/Order/{order_id}"]
    if kind == "foxdeli":
        return standin.order_by_external(str(order_id))["price"]["amount"]
    return float(standin.orders[(PL_ACCOUNT, node["name"])]["order_total_amount"])


def test_a_resynced_order_after_a_partial_refund_carries_its_current_total(world, shopify) -> None:
    kind, settings, db, standin = world
    order_id = shopify.order_ids()[4]
    original = float(shopify.orders[f"gid://shopify/Order/{order_id}"]["totalPriceSet"]["shopMoney"]["amount"])
    shopify.refund(order_id, 10.0)
    resync(settings, db, order_ids=(str(order_id),))
    assert Worker(settings).run(once=True).dead == 0
    assert order_total(kind, standin, shopify, order_id) == pytest.approx(original - 10.0)


SINCE = "2000-01-01T00:00:00Z"


def delivered_numbers(kind: str, standin: Any, shopify: ShopifyAdminStandIn) -> dict[int, list[str]]:
    """Each order's tracking numbers as the target holds them (Foxdeli: one parcel each;
    parcelLab: one tracking each, under the order's name)."""
    found: dict[int, list[str]] = {}
    for order_id in shopify.order_ids():
        if kind == "foxdeli":
            order = standin.order_by_external(str(order_id)) or {}
            numbers = [t["number"] for p in order.get("parcels", []) for t in p["tracking"] if t.get("number")]
        else:
            name = shopify.orders[f"gid://shopify/Order/{order_id}"]["name"]
            numbers = [n for (_, n), t in standin.trackings.items() if t["order"] == (PL_ACCOUNT, name)]
        if numbers:
            found[order_id] = sorted(numbers)
    return found


def wanted_numbers(shopify: ShopifyAdminStandIn) -> dict[int, list[str]]:
    return {order_id: sorted(numbers) for order_id, numbers in shopify.tracking_numbers().items()}


def test_a_resync_brings_every_target_each_parcel_once(world, shopify) -> None:
    kind, settings, db, standin = world
    shopify.fulfill(shopify.order_ids()[1], ["PKG-1-A", "PKG-1-B"])  # one shipment in two packages
    job = resync(settings, db, since=SINCE)
    assert (job["fetched"], job["queued"], job["fulfillments"]) == (40, 40, 15)
    assert Worker(settings).run(once=True).dead == 0
    wanted = wanted_numbers(shopify)
    assert len(wanted) == 15 and sum(map(len, wanted.values())) == 16
    assert delivered_numbers(kind, standin, shopify) == wanted

    # The same re-sync again stores nothing new and sends nothing: no duplicate parcel or tracking.
    requests_before = len(standin.requests)
    again = resync(settings, db, since=SINCE)
    assert (again["queued"], again["duplicates"], again["fulfillments"]) == (0, 40, 0)
    assert Worker(settings).run(once=True).dead == 0
    assert len(standin.requests) == requests_before
    assert delivered_numbers(kind, standin, shopify) == wanted
    if kind == "foxdeli":
        assert sum(len(o["parcels"]) for o in standin.orders.values()) == 16


def test_reconcile_recovers_a_fulfillment_whose_webhook_was_missed(world, shopify) -> None:
    kind, settings, db, standin = world
    resync(settings, db, since=SINCE)
    assert Worker(settings).run(once=True).dead == 0
    order_id = shopify.order_ids()[2]  # not fulfilled yet
    shopify.fulfill(order_id, ["LATE-2"])
    # Its orders/updated webhook arrives; its fulfillments/create is lost.
    client = create_app(settings=settings).test_client()
    order = map_graphql_order(shopify.orders[f"gid://shopify/Order/{order_id}"])
    assert post_webhook(client, "orders/updated", order).status_code == 200
    assert Worker(settings).run(once=True).dead == 0
    if kind == "foxdeli":  # the order body alone never makes a parcel
        assert order_id not in delivered_numbers(kind, standin, shopify)

    job = run_job(db, settings, create_reconcile_job(db, settings, SHOP, 30 * 86400, "r", "test"), "r")
    assert job["status"] == "done", job["error"]
    assert (job["recovered"], job["skipped"], job["fulfillments"]) == (0, 40, 1)
    assert Worker(settings).run(once=True).dead == 0
    assert delivered_numbers(kind, standin, shopify) == wanted_numbers(shopify)
    assert delivered_numbers(kind, standin, shopify)[order_id] == ["LATE-2"]

    # What the sync state now has is not recovered twice.
    again = run_job(db, settings, create_reconcile_job(db, settings, SHOP, 30 * 86400, "r", "test"), "r")
    assert (again["recovered"], again["queued"], again["fulfillments"]) == (0, 0, 0)


def test_a_silent_resync_brings_the_trackings_as_silent_as_the_platform_allows(world, shopify) -> None:
    kind, settings, db, standin = world
    job = resync(settings, db, since=SINCE, silent=True)
    assert job["fulfillments"] == 14
    assert Worker(settings).run(once=True).dead == 0
    assert delivered_numbers(kind, standin, shopify) == wanted_numbers(shopify)
    if kind == "parcellab":  # every tracking, those of the fulfillments too, without notifications
        assert len(standin.trackings) == 14
        assert all(t.get("notifications_inactive") is True for t in standin.trackings.values())
    else:  # Foxdeli cannot be told: the job said so before it started
        assert any("cannot" in note for note in job["notes"])
