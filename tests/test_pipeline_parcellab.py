"""The whole pipeline against the strict parcelLab stand-in.

Signed webhook → real Flask app → SQLite → Worker → ParcellabTarget → stand-in over real HTTP.
Every test ends by checking that the stand-in never saw a request it had to refuse as invalid.
"""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Callable, Iterator
from contextlib import closing
from typing import Any

import pytest

from connector.config import Settings
from connector.sandbox.parcellab import ParcellabStandIn
from connector.store.db import connect
from connector.store.dry_run import list_dry_runs
from connector.store.events import NewEvent, save_event
from connector.worker.loop import Worker
from tests.golden import GOLDEN_DIR
from tests.processes import connector_env, start_connector, stop, wait_for
from tests.support import (
    DOCS_ORDER,
    OLD_ORDER,
    ORDER_ID,
    SECRET,
    SHOP,
    documented_fulfillment,
    fast_settings,
    fixture_bytes,
    live_order,
    order_body,
    query,
)

pytestmark = pytest.mark.both_engines

TOKEN = "MTYxMjM0NTpzM2NyM3QtdDBrM24="
ACCOUNT = 1612345
DE_ORDER = "orders_pl_de_split_shipment.json"
DE_ORDER_ID = "5726128734520987651"
CARRIERS = {"Regional Express Kurier": "dhl-express"}


@pytest.fixture
def pl() -> Iterator[ParcellabStandIn]:
    # A fresh server per test: a request a test left in flight (a delayed fault) lands in its own
    # stand-in, never in the next test's.
    with ParcellabStandIn(token=TOKEN) as standin:
        yield standin  # type: ignore[misc]
        assert standin.invalid_requests == [], [(r.body, errors) for r, errors in standin.invalid_requests]


@pytest.fixture
def overrides(db_path: str, pl: ParcellabStandIn) -> dict[str, Any]:
    """The shared test settings, pointed at the parcelLab stand-in."""
    return fast_settings(
        db_path, kind="parcellab", base_url=pl.url, token=TOKEN, account=str(ACCOUNT), client_key="mybrand-a.com",
        auth_scheme="Parcellab-API-Token", carriers=CARRIERS,
    )


# -- helpers --------------------------------------------------------------------------------------
def de_fulfillment(index: int, **changes: Any) -> dict[str, Any]:
    """One of the German order's own fulfillments, as its fulfillments/* webhook would carry it."""
    body = json.loads(fixture_bytes(DE_ORDER))["fulfillments"][index]
    body.update(changes)
    return body


def dumps(body: dict[str, Any]) -> bytes:
    return json.dumps(body).encode()


def the_order(pl: ParcellabStandIn, order_number: str = "#9999") -> dict[str, Any]:
    """The one parcelLab order: fails when there is none or several."""
    assert list(pl.orders) == [(ACCOUNT, order_number)], list(pl.orders)
    return pl.orders[(ACCOUNT, order_number)]


def trackings(pl: ParcellabStandIn) -> dict[tuple[str, str], dict[str, Any]]:
    return {pair: dict(t) for pair, t in pl.trackings.items()}


def puts(pl: ParcellabStandIn) -> list[dict[str, Any]]:
    return [r.json() for r in pl.requests if r.method == "PUT"]


def order_row(db_path: str, order_id: str = ORDER_ID) -> dict[str, Any]:
    return query(db_path, "SELECT * FROM orders WHERE order_id = ?", [order_id])[0]


def run_until_synced(run_worker: Callable[..., Any], db_path: str, order_id: str = ORDER_ID, rounds: int = 40) -> None:
    for _ in range(rounds):
        run_worker()
        if order_row(db_path, order_id)["status"] == "synced":
            return
        time.sleep(0.06)  # retry.max_delay_s is 0.05
    raise AssertionError(f"never synced: {order_row(db_path, order_id)}")


# -- one order, one tracking per number ------------------------------------------------------------
def test_order_with_fulfillments_is_one_order_with_one_tracking_per_number(post, run_worker, pl, db_path):
    post(fixture_bytes(DE_ORDER))
    assert run_worker().delivered == 1
    order = the_order(pl, "#1001")
    assert order["external_reference"] == DE_ORDER_ID and order["has_multiple_shipments"] is True
    assert set(trackings(pl)) == {
        ("dhl-germany", "00340434292135100186"), ("hermes-de", "H1001000000000002"),
        ("dhl-express", "REK-1"), ("dhl-express", "REK-2"),
    }
    assert {t["order"] for t in pl.trackings.values()} == {(ACCOUNT, "#1001")}
    assert order_row(db_path, DE_ORDER_ID)["remote_id"] == order["external_id"]
    # Each fulfillment's own webhook names trackings parcelLab already has: still one each.
    for index in range(3):
        post(dumps(de_fulfillment(index, email="anna@example.com")), "fulfillments/create")
    run_until_synced(run_worker, db_path, DE_ORDER_ID)
    the_order(pl, "#1001")
    assert len(pl.trackings) == 4


def test_duplicates_make_one_order_and_one_write(post, run_worker, pl):
    body = live_order()
    post(body, webhook_id="w-1", event_id="e-1")
    post(body, webhook_id="w-1", event_id="e-1")  # Shopify's retry of the same delivery
    run_worker()
    post(body, "orders/paid")  # the same state under other topics
    post(body, "orders/updated")
    run_worker()
    the_order(pl)
    assert len(puts(pl)) == 1


def test_update_before_create_and_stale_retry_keep_the_newest(post, run_worker, pl):
    post(live_order(updated_at="2026-11-25T10:05:00Z", total_price="111.00", current_total_price="111.00"), "orders/updated")
    post(live_order(updated_at="2026-11-25T10:00:00Z", total_price="100.00", current_total_price="100.00"), "orders/create")
    run_worker()
    assert the_order(pl)["order_total_amount"] == "111.00"
    post(fixture_bytes(OLD_ORDER), "orders/create")  # a late retry of an old delivery: never sent
    run_worker()
    assert the_order(pl)["order_total_amount"] == "111.00"
    assert "cancelled_date" not in the_order(pl)  # the old one was cancelled; its state never arrived
    assert len(puts(pl)) == 1


def test_fulfillment_adds_one_tracking_and_a_new_number_adds_it_once(post, run_worker, pl, db_path):
    post(live_order())
    post(dumps(documented_fulfillment()), "fulfillments/create")
    run_worker()
    assert set(trackings(pl)) == {("ups", "1z827wk74630")}
    post(dumps(documented_fulfillment()), "fulfillments/update")  # same content: nothing sent
    run_worker()
    assert len(puts(pl)) == 2
    changed = documented_fulfillment(tracking_number="1Z999AA10123456784", tracking_numbers=["1Z999AA10123456784"],
                          tracking_urls=[], updated_at="2026-11-26T08:00:00Z")
    post(dumps(changed), "fulfillments/update")
    # The order update that Shopify sends along carries the fulfillment too: no duplicate.
    post(live_order(updated_at="2026-11-26T08:00:00Z", fulfillments=[changed], fulfillment_status="fulfilled"),
         "orders/updated")
    run_worker()
    the_order(pl)
    assert set(trackings(pl)) == {("ups", "1z827wk74630"), ("ups", "1Z999AA10123456784")}
    assert the_order(pl)["order_status"] == "Fulfilled"


# Production-like backoff: a waiting fulfillment is rescheduled 10-20 s later.
SLOW_RETRY = {"retry.first_delay_s": 5.0, "retry.max_delay_s": 60.0, "retry.in_process_attempts": 1}


def test_fulfillment_duplicates_and_reordering_send_the_newest_tracking_once(post, run_worker, pl):
    post(live_order())
    run_worker()
    newer = documented_fulfillment(tracking_number="1Z999AA10123456784", tracking_numbers=["1Z999AA10123456784"],
                        tracking_urls=[], updated_at="2026-11-26T08:00:00Z")
    post(dumps(newer), "fulfillments/update", webhook_id="f-2")  # overtakes its fulfillments/create
    post(dumps(newer), "fulfillments/update", webhook_id="f-2")  # and is delivered twice by Shopify
    post(dumps(documented_fulfillment()), "fulfillments/create", webhook_id="f-1")
    run_worker()
    post(dumps(documented_fulfillment()), "fulfillments/create", webhook_id="f-1b")  # a late retry of the old state
    run_worker()
    the_order(pl)
    assert set(trackings(pl)) == {("ups", "1Z999AA10123456784")}
    assert len(puts(pl)) == 2  # the order, then the newest fulfillment once


def test_fulfillment_before_its_order_waits_then_lands_as_soon_as_the_order_arrives(post, run_worker, pl, db_path):
    # The German order's fulfillment has no email or country: it must wait for its order.
    post(dumps(de_fulfillment(0)), "fulfillments/create")
    run_worker(**SLOW_RETRY)
    row = order_row(db_path, DE_ORDER_ID)
    assert row["status"] == "retrying" and "waiting for its order" in row["last_error"]
    assert pl.requests == []
    post(fixture_bytes(DE_ORDER))
    assert run_worker(**SLOW_RETRY).delivered == 1  # no need to sit out the backoff
    assert order_row(db_path, DE_ORDER_ID)["status"] == "synced"
    the_order(pl, "#1001")
    assert len(pl.trackings) == 4
    assert {r["state"] for r in query(db_path, "SELECT state FROM events")} == {"delivered"}


def test_fulfillment_that_names_its_order_goes_ahead_and_merges_into_one_order(post, run_worker, pl, db_path):
    post(dumps(documented_fulfillment()), "fulfillments/create")  # carries #9999.1, email and destination
    run_worker()
    assert the_order(pl)["recipient_email"] == "jon@example.com"
    post(live_order())
    run_worker()
    order = the_order(pl)
    assert order["external_reference"] == ORDER_ID and order["order_total_amount"] == "369.97"  # current_total_price
    assert set(trackings(pl)) == {("ups", "1z827wk74630")}


def test_cancellation_reaches_parcellab(post, run_worker, pl):
    post(live_order())
    run_worker()
    post(order_body(DOCS_ORDER, updated_at="2026-11-25T12:00:00Z", cancelled_at="2026-11-25T12:00:00Z"),
         "orders/cancelled")
    run_worker()
    order = the_order(pl)
    assert order["order_status"] == "Cancelled" and order["cancelled_reason"] == "customer"
    assert puts(pl)[-1]["mutations"] == [{"type": "cancel_order"}]


@pytest.mark.slow
@pytest.mark.one_engine("sqlite")
def test_worker_killed_mid_delivery_leaves_one_order(tmp_path, app, post, db_path, pl):
    """SIGKILL while parcelLab holds the PUT; it lands anyway; the next worker's PUT is an update."""
    post(fixture_bytes(DE_ORDER))
    pl.fail_next(1, delay_s=1.5)
    env = connector_env(
        shopify_api_secret=SECRET, database_path=db_path, target_kind="parcellab", target_all_shops=1, target_base_url=pl.url,
        target_token=TOKEN, target_account=ACCOUNT, target_client_key="mybrand-a.com",
        target_timeout_s=10, worker_lease_s=1, worker_poll_interval_s=0.1,
    )
    (tmp_path / "config.toml").write_text(
        f'[shops."{SHOP}"]\ncarriers = {{ "Regional Express Kurier" = "dhl-express" }}\n'
    )
    first = start_connector(["worker"], env, tmp_path, tmp_path / "w1.log")
    try:
        assert wait_for(lambda: len(pl.requests) >= 1, timeout=20), (tmp_path / "w1.log").read_text()
    finally:
        stop(first, signal.SIGKILL)
    row = order_row(db_path, DE_ORDER_ID)
    assert row["lease_owner"] is not None and row["status"] == "pending"
    assert wait_for(lambda: len(pl.orders) == 1, timeout=5)  # the dead worker's PUT was applied
    second = start_connector(["worker"], env, tmp_path, tmp_path / "w2.log")
    try:
        assert wait_for(lambda: order_row(db_path, DE_ORDER_ID)["status"] == "synced", timeout=20), \
            (tmp_path / "w2.log").read_text()
    finally:
        stop(second)
    the_order(pl, "#1001")
    assert len(pl.trackings) == 4 and len(puts(pl)) == 2


# -- faults -----------------------------------------------------------------------------------------
def test_rate_limits_conflicts_outages_and_timeouts_are_retried_until_delivered(post, run_worker, pl, db_path):
    post(live_order())
    pl.fail_next(2, status=429, headers={"Retry-After": "1"})
    pl.fail_next(1, status=409, body={"detail": "concurrent update"})
    pl.fail_next(1, status=503)
    pl.fail_next(1, drop=True)
    pl.fail_next(1, delay_s=0.5)  # past the 0.3 s timeout
    run_until_synced(lambda: run_worker(**{"target.timeout_s": 0.3}), db_path)
    the_order(pl)
    transient = query(db_path, "SELECT status_code, error FROM attempts WHERE outcome = 'transient' ORDER BY id")
    assert [a["status_code"] for a in transient] == [429, 429, 409, 503, None, None]
    assert "connection failed" in transient[4]["error"] and "timeout" in transient[5]["error"]


def test_failed_mutation_in_a_200_is_dead_lettered_with_its_message(post, run_worker, pl, db_path, client):
    post(live_order())
    post(dumps(documented_fulfillment(tracking_company="Foo Express", tracking_urls=[], tracking_url=None)), "fulfillments/create")
    stats = run_worker()
    assert stats.dead == 1
    row = order_row(db_path)
    assert row["status"] == "dead"
    assert row["last_error"] == "HTTP 200 with failed mutation: add_tracking failed: Unknown courier 'foo-express'"
    the_order(pl)  # the order itself went through
    assert pl.trackings == {}
    [failure] = client.get("/admin/failures", headers={"Authorization": "Bearer admin-token"}).json["failures"]
    assert "Unknown courier 'foo-express'" in failure["reason"]


def test_validation_error_is_dead_lettered_with_parcellab_reason(post, run_worker, pl, db_path):
    post(live_order())
    pl.fail_next(1, status=400, body={"type": "validation_error", "errors": [
        {"code": "invalid", "detail": "Unknown delivery method.", "attr": "delivery_method"}]})
    assert run_worker().dead == 1
    assert order_row(db_path)["last_error"] == "HTTP 400 validation_error: delivery_method: Unknown delivery method. (invalid)"
    assert len(pl.requests) == 1


# -- silent backfills ------------------------------------------------------------------------------
def save_silent(db_path: str, body: bytes, topic: str = "orders/updated", key: str = "resync-1") -> None:
    with closing(connect(db_path)) as db:
        save_event(db, NewEvent(shop=SHOP, topic=topic, dedupe_key=key, body=body, source="resync-silent"))


def test_silent_resync_sends_trackings_with_notifications_inactive(app, run_worker, pl, db_path):
    save_silent(db_path, fixture_bytes(DE_ORDER))
    run_worker()
    the_order(pl, "#1001")
    [body] = puts(pl)
    assert len(body["mutations"]) == 4
    assert all(m["tracking"]["notifications_inactive"] is True for m in body["mutations"])
    assert all(t["notifications_inactive"] is True for t in pl.trackings.values())


def test_live_fulfillment_after_a_silent_resync_notifies(app, post, run_worker, pl, db_path):
    save_silent(db_path, live_order())
    post(dumps(documented_fulfillment()), "fulfillments/create")  # a real shipment, reported live
    run_worker()
    the_order(pl)
    [tracking] = pl.trackings.values()
    assert "notifications_inactive" not in tracking
    # A silent resync of a fulfillment stays silent.
    save_silent(db_path, dumps(documented_fulfillment(id=123457, tracking_numbers=["1Z999AA10123456784"], tracking_urls=[],
                                           name="#9999.2")), "fulfillments/create", "resync-2")
    run_worker()
    assert pl.trackings[("ups", "1Z999AA10123456784")]["notifications_inactive"] is True


# -- dry run with the parcelLab mapping ------------------------------------------------------------
def test_dry_run_with_the_parcellab_mapping_records_the_parcellab_payload(settings, post, db_path, pl):
    dry = Settings({**settings.values, "target.kind": "dry-run", "target.dry_run_mapping": "parcellab"},
                   settings.shops)
    post(fixture_bytes(DOCS_ORDER))
    post(dumps(documented_fulfillment()), "fulfillments/create")
    Worker(dry).run(once=True)
    with closing(connect(db_path)) as db:
        records = {r["kind"]: r for r in list_dry_runs(db, order_id=ORDER_ID)}
    assert set(records) == {"order", "fulfillment"} and {r["mapping"] for r in records.values()} == {"parcellab"}
    golden = json.loads((GOLDEN_DIR / "parcellab" / DOCS_ORDER).read_text())
    assert records["order"]["payload"] == golden
    [mutation] = records["fulfillment"]["payload"]["mutations"]
    assert mutation["tracking"]["courier"] == "ups" and mutation["tracking"]["tracking_number"] == "1z827wk74630"
    assert pl.requests == []  # a dry run sends nothing
