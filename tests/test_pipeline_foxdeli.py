"""The whole pipeline against the strict Foxdeli stand-in.

Signed webhook → real Flask app → SQLite → Worker → FoxdeliTarget → stand-in over real HTTP.
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
from connector.sandbox.foxdeli import ESHOP_ID, FoxdeliStandIn
from connector.store.db import connect
from connector.store.dry_run import list_dry_runs
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
    execute,
    fast_settings,
    fixture_bytes,
    live_order,
    order_body,
    query,
    scalar,
    tuples,
)

pytestmark = pytest.mark.both_engines

ORDER_PATH = "/tracking/api/v1/order"


@pytest.fixture
def fox() -> Iterator[FoxdeliStandIn]:
    # A fresh server per test: a request a test left in flight (a delayed fault) lands in its own
    # stand-in, never in the next test's.
    with FoxdeliStandIn() as standin:
        yield standin  # type: ignore[misc]
        assert standin.invalid_requests == [], standin.invalid_requests


@pytest.fixture
def overrides(db_path: str, fox: FoxdeliStandIn) -> dict[str, Any]:
    """The shared test settings, pointed at the Foxdeli stand-in."""
    return fast_settings(
        db_path, kind="foxdeli", base_url=fox.url, username=fox.username, password=fox.password, eshop_id=ESHOP_ID
    )


# -- helpers --------------------------------------------------------------------------------------
def priced(total: str, updated_at: str) -> bytes:
    """The live order at another total (Foxdeli's price is the current total) and time."""
    money = {"amount": total, "currency_code": "USD"}
    return live_order(updated_at=updated_at, total_price=total, current_total_price=total,
                      current_total_price_set={"shop_money": money, "presentment_money": money})


def the_order(fox: FoxdeliStandIn) -> dict[str, Any]:
    """The one Foxdeli order of the Shopify order: fails when there is none or several."""
    assert len(fox.orders) == 1, list(fox.orders.values())
    order = fox.order_by_external(ORDER_ID)
    assert order is not None
    return order


def calls(fox: FoxdeliStandIn, method: str, path_part: str = "") -> int:
    return sum(1 for r in fox.requests if r.method == method and r.path.startswith(ORDER_PATH) and path_part in r.path)


def order_row(db_path: str) -> dict[str, Any]:
    return query(db_path, "SELECT * FROM orders WHERE order_id = ?", [ORDER_ID])[0]


def run_until_synced(run_worker: Callable[..., Any], db_path: str, rounds: int = 40) -> None:
    for _ in range(rounds):
        run_worker()
        if order_row(db_path)["status"] == "synced":
            return
        time.sleep(0.06)  # retry.max_delay_s is 0.05
    raise AssertionError(f"never synced: {order_row(db_path)}")


# -- one Foxdeli order per Shopify order --------------------------------------------------------------
def test_order_webhook_creates_one_foxdeli_order(post, run_worker, fox, db_path):
    assert post(live_order()).status_code == 200
    assert run_worker().delivered == 1
    order = the_order(fox)
    assert order["orderNumber"] == "#9999" and order["price"] == {"amount": 369.97, "currency": "USD"}
    assert order["orderState"] == "CREATED"
    assert order_row(db_path)["remote_id"] == order["id"]


def test_duplicates_make_one_order_and_one_write(post, run_worker, fox):
    body = live_order()
    post(body, webhook_id="w-1", event_id="e-1")
    post(body, webhook_id="w-1", event_id="e-1")  # Shopify's retry of the same delivery
    run_worker()
    post(body, "orders/paid")  # the same state under other topics
    post(body, "orders/updated")
    run_worker()
    the_order(fox)
    assert calls(fox, "POST") == 1 and calls(fox, "PATCH") == 0


def test_update_before_create_and_stale_retry_keep_the_newest(post, run_worker, fox):
    newest = priced("111.00", "2026-11-25T10:05:00Z")
    older = priced("100.00", "2026-11-25T10:00:00Z")
    post(newest, "orders/updated")  # arrives before its orders/create
    post(older, "orders/create")
    run_worker()
    assert the_order(fox)["price"]["amount"] == 111.0
    # Shopify retries an old delivery after the newest one was delivered: nothing is sent.
    post(fixture_bytes(OLD_ORDER), "orders/create")
    post(older, "orders/updated")
    run_worker()
    assert the_order(fox)["price"]["amount"] == 111.0
    assert calls(fox, "POST") == 1 and calls(fox, "PATCH") == 0
    # A newer state is a PATCH of the same order.
    post(priced("120.00", "2026-11-25T11:00:00Z"), "orders/updated")
    run_worker()
    assert the_order(fox)["price"]["amount"] == 120.0
    assert calls(fox, "POST") == 1 and calls(fox, "PATCH") == 1


def test_create_that_landed_but_was_not_recorded_is_found_and_patched(post, run_worker, fox, db_path):
    """The POST reaches Foxdeli but its answer never arrives: the retry gets 409, finds, PATCHes."""
    post(live_order())
    fox.fail_next(1)  # the login passes untouched
    fox.fail_next(1, delay_s=0.8)  # the POST is applied after the client gave up waiting
    # The durable retry waits a second: this run must end before it (however fast the store).
    run_worker(**{"target.timeout_s": 0.3, "retry.in_process_attempts": 1, "retry.first_delay_s": 1, "retry.max_delay_s": 1})
    row = order_row(db_path)
    assert row["status"] == "retrying" and "timeout" in row["last_error"] and row["remote_id"] is None
    assert wait_for(lambda: len(fox.orders) == 1, timeout=5)  # the lost POST landed
    run_until_synced(run_worker, db_path)
    order = the_order(fox)
    assert order_row(db_path)["remote_id"] == order["id"]
    assert calls(fox, "POST") == 2 and calls(fox, "GET") == 1 and calls(fox, "PATCH") == 1


@pytest.mark.slow
@pytest.mark.one_engine("postgres")
def test_worker_killed_mid_delivery_leaves_one_order(tmp_path, app, post, db_path, fox):
    """SIGKILL while Foxdeli holds the POST; it lands anyway; the next worker finds and PATCHes it."""
    post(live_order())
    fox.fail_next(1)  # login
    fox.fail_next(1, delay_s=1.5)  # the POST hangs long enough to kill the worker
    env = connector_env(
        shopify_api_secret=SECRET, database_path=db_path, target_kind="foxdeli", target_all_shops=1, target_base_url=fox.url,
        target_username=fox.username, target_password=fox.password, target_eshop_id=ESHOP_ID,
        target_timeout_s=10, worker_lease_s=1, worker_poll_interval_s=0.1,
    )
    (tmp_path / "config.toml").write_text(f'[shops."{SHOP}"]\n')
    first = start_connector(["worker"], env, tmp_path, tmp_path / "w1.log")
    try:
        assert wait_for(lambda: calls(fox, "POST") >= 1, timeout=20), (tmp_path / "w1.log").read_text()
    finally:
        stop(first, signal.SIGKILL)
    row = order_row(db_path)
    assert row["lease_owner"] is not None and row["status"] == "pending" and row["remote_id"] is None
    assert wait_for(lambda: len(fox.orders) == 1, timeout=5)  # the dead worker's POST was applied
    second = start_connector(["worker"], env, tmp_path, tmp_path / "w2.log")
    try:
        assert wait_for(lambda: order_row(db_path)["status"] == "synced", timeout=20), (tmp_path / "w2.log").read_text()
    finally:
        stop(second)
    order = the_order(fox)
    assert order_row(db_path)["remote_id"] == order["id"]
    assert calls(fox, "POST") == 2 and calls(fox, "PATCH") == 1  # 409 → find by externalId → PATCH


# -- parcels --------------------------------------------------------------------------------------------
def test_fulfillment_becomes_a_parcel_and_an_update_patches_it(post, run_worker, fox, db_path):
    post(live_order())
    post(json.dumps(documented_fulfillment()).encode(), "fulfillments/create")
    run_worker()
    [parcel] = the_order(fox)["parcels"]
    assert parcel["tracking"] == [{"carrier": "UPS", "number": "1z827wk74630"}]
    # The same content again: nothing sent. A new tracking number: the same parcel is PATCHed.
    post(json.dumps(documented_fulfillment()).encode(), "fulfillments/update")
    run_worker()
    post(json.dumps(documented_fulfillment(tracking_number="1Z999AA10123456784", tracking_numbers=["1Z999AA10123456784"],
                                updated_at="2026-11-26T08:00:00Z")).encode(), "fulfillments/update")
    run_worker()
    [patched] = the_order(fox)["parcels"]
    assert patched["id"] == parcel["id"] and patched["tracking"][0]["number"] == "1Z999AA10123456784"
    assert calls(fox, "POST", "/parcel") == 1 and calls(fox, "PATCH", f"/parcel/{parcel['id']}") == 1


def shipment(*numbers: str, updated_at: str = "2026-11-26T08:00:00Z", **changes: Any) -> bytes:
    """The documented fulfillment as one shipment in several packages (a tracking number each)."""
    return json.dumps(documented_fulfillment(
        tracking_company="UPS", tracking_numbers=list(numbers), tracking_number=numbers[0] if numbers else None,
        tracking_urls=[f"https://www.ups.com/track?tracknum={n}" for n in numbers], updated_at=updated_at, **changes,
    )).encode()


def parcels_by_number(fox: FoxdeliStandIn) -> dict[str | None, dict[str, Any]]:
    by_number = {p["tracking"][0].get("number"): p for p in the_order(fox)["parcels"]}
    assert len(by_number) == len(the_order(fox)["parcels"]), "two parcels track the same number"
    return by_number


def part_items(db_path: str) -> dict[str, str]:
    """tracking number → Foxdeli parcel id, as the connector remembers them."""
    row = tuples(db_path, "SELECT remote_items FROM order_parts WHERE kind = 'fulfillment'")[0]
    return {number: item[0] for number, item in json.loads(row[0]).items()}


def sent_since(fox: FoxdeliStandIn, start: int) -> list[tuple[str, str]]:
    return [(r.method, r.path.rsplit("/parcel", 1)[-1]) for r in fox.requests[start:] if r.path.startswith(ORDER_PATH)]


def test_a_shipment_in_several_packages_is_a_parcel_per_tracking_number(post, run_worker, fox, db_path):
    post(live_order())
    post(shipment("1Z001", "1Z002", "1Z003"), "fulfillments/create")
    run_worker()
    parcels = parcels_by_number(fox)
    assert set(parcels) == {"1Z001", "1Z002", "1Z003"}
    assert {p["tracking"][0]["carrier"] for p in parcels.values()} == {"UPS"}
    assert part_items(db_path) == {n: p["id"] for n, p in parcels.items()}  # a remote id per parcel
    # Shopify's retry of the webhook, then an update that changes nothing Foxdeli holds: nothing sent.
    start = len(fox.requests)
    post(shipment("1Z001", "1Z002", "1Z003"), "fulfillments/create")
    post(shipment("1Z001", "1Z002", "1Z003", updated_at="2026-11-26T09:00:00Z", shipment_status="in_transit"),
         "fulfillments/update")
    run_worker()
    assert sent_since(fox, start) == []
    # A corrected number: the new one takes over the old one's parcel; the other parcels are left alone.
    start = len(fox.requests)
    post(shipment("1Z001", "1Z002", "1Z004", updated_at="2026-11-26T10:00:00Z"), "fulfillments/update")
    run_worker()
    after = parcels_by_number(fox)
    assert set(after) == {"1Z001", "1Z002", "1Z004"} and after["1Z004"]["id"] == parcels["1Z003"]["id"]
    assert sent_since(fox, start) == [("PATCH", f"/{parcels['1Z003']['id']}")]
    # A package swapped for another: the new one takes over the parcel.
    post(shipment("1Z001", "1Z004", "1Z005", updated_at="2026-11-26T11:00:00Z"), "fulfillments/update")
    run_worker()
    final = parcels_by_number(fox)
    assert set(final) == {"1Z001", "1Z004", "1Z005"} and final["1Z005"]["id"] == parcels["1Z002"]["id"]
    # A package taken out of the shipment: its parcel is deleted.
    post(shipment("1Z001", "1Z004", updated_at="2026-11-26T12:00:00Z"), "fulfillments/update")
    run_worker()
    assert set(parcels_by_number(fox)) == {"1Z001", "1Z004"} and part_items(db_path).keys() == {"1Z001", "1Z004"}
    # Cancelled in Shopify: every parcel of it is deleted.
    post(shipment("1Z001", "1Z004", updated_at="2026-11-26T13:00:00Z", status="cancelled"), "fulfillments/update")
    run_worker()
    assert the_order(fox)["parcels"] == [] and part_items(db_path) == {}


def test_a_failure_half_way_through_the_parcels_repeats_none_of_them(post, run_worker, fox, db_path):
    post(live_order())
    post(shipment("1Z001", "1Z002", "1Z003"), "fulfillments/create")
    fox.fail_next(3)  # login, the order, the first parcel go through
    fox.fail_next(2, status=503)  # the second parcel fails past the in-process retries
    # A durable retry longer than one worker pass, so the order is seen retrying in between (with
    # the tiny default it was due again within the same run on a loaded machine, and synced).
    run_worker(**{"retry.first_delay_s": 0.25, "retry.max_delay_s": 2.0})
    assert order_row(db_path)["status"] == "retrying"
    assert set(parcels_by_number(fox)) == {"1Z001"} and part_items(db_path).keys() == {"1Z001"}
    run_until_synced(run_worker, db_path)
    assert set(parcels_by_number(fox)) == {"1Z001", "1Z002", "1Z003"}
    assert calls(fox, "POST", "/parcel") == 5  # 1Z001 once; 1Z002 twice refused, then created; 1Z003


def test_a_parcel_remembered_before_several_numbers_is_kept(post, run_worker, fox, db_path):
    """A fulfillment delivered by an earlier version (one parcel id, no items): its parcel is the
    first number's, the others get new ones."""
    post(live_order())
    post(shipment("1Z001"), "fulfillments/create")
    run_worker()
    [old] = the_order(fox)["parcels"]
    execute(db_path, "UPDATE order_parts SET remote_items = NULL, payload_hash = NULL")  # as stored before
    post(shipment("1Z001", "1Z002", updated_at="2026-11-27T08:00:00Z"), "fulfillments/update")
    run_worker()
    parcels = parcels_by_number(fox)
    assert set(parcels) == {"1Z001", "1Z002"} and parcels["1Z001"]["id"] == old["id"]


# Production-like backoff: a waiting fulfillment is rescheduled 10-20 s later.
SLOW_RETRY = {"retry.first_delay_s": 5.0, "retry.max_delay_s": 60.0, "retry.in_process_attempts": 1}


def test_fulfillment_before_its_order_waits_then_lands_as_soon_as_the_order_arrives(post, run_worker, fox, db_path):
    post(json.dumps(documented_fulfillment()).encode(), "fulfillments/create")
    run_worker(**SLOW_RETRY)
    row = order_row(db_path)
    assert row["status"] == "retrying" and "waits for its order" in row["last_error"]
    assert fox.orders == {} and calls(fox, "POST") == 0
    events = [r["state"] for r in query(db_path, "SELECT state FROM events")]
    assert events == ["queued"]  # kept, not dropped
    post(live_order())
    # What it waited for is there: no need to sit out the backoff.
    assert run_worker(**SLOW_RETRY).delivered == 1
    assert order_row(db_path)["status"] == "synced"
    [parcel] = the_order(fox)["parcels"]
    assert parcel["tracking"][0]["number"] == "1z827wk74630"
    states = {r["state"] for r in query(db_path, "SELECT state FROM events")}
    assert states == {"delivered"}


def test_cancelled_fulfillment_deletes_its_parcel(post, run_worker, fox):
    post(live_order())
    post(json.dumps(documented_fulfillment()).encode(), "fulfillments/create")
    run_worker()
    assert len(the_order(fox)["parcels"]) == 1
    post(json.dumps(documented_fulfillment(status="cancelled", updated_at="2026-11-26T08:00:00Z")).encode(), "fulfillments/update")
    run_worker()
    assert the_order(fox)["parcels"] == []


# -- cancellation -------------------------------------------------------------------------------------
def test_cancellation_reaches_foxdeli(post, run_worker, fox):
    post(live_order())
    run_worker()
    assert the_order(fox)["orderState"] == "CREATED"
    post(order_body(DOCS_ORDER, updated_at="2026-11-25T12:00:00Z", cancelled_at="2026-11-25T12:00:00Z"), "orders/cancelled")
    run_worker()
    order = the_order(fox)
    assert order["orderState"] == "CANCELLED"
    assert calls(fox, "PUT", f"{order['id']}/cancel") == 1


def test_order_cancelled_before_its_first_delivery_is_created_and_cancelled_once(post, run_worker, fox, db_path):
    post(fixture_bytes(DOCS_ORDER))  # Shopify's sample: already cancelled
    fox.fail_next(2)  # login and POST pass untouched
    fox.fail_next(1, status=503)  # the cancel call fails
    # Created, not cancelled, id not recorded; the durable retry waits past the end of this run.
    run_worker(**{"retry.in_process_attempts": 1, "retry.first_delay_s": 1, "retry.max_delay_s": 1})
    row = order_row(db_path)
    assert row["status"] == "retrying" and "cancel order: HTTP 503" in row["last_error"]
    run_until_synced(run_worker, db_path)
    order = the_order(fox)
    assert order["orderState"] == "CANCELLED" and order_row(db_path)["remote_id"] == order["id"]
    assert calls(fox, "POST") == 2 and calls(fox, "PATCH") == 1  # the retry found the order (409)


def test_deleted_order_is_cancelled_at_foxdeli(post, run_worker, fox):
    post(live_order())
    run_worker()
    post(json.dumps({"id": int(ORDER_ID)}).encode(), "orders/delete")
    run_worker()
    assert the_order(fox)["orderState"] == "CANCELLED"


# -- faults ---------------------------------------------------------------------------------------------
def test_rate_limits_outages_and_timeouts_are_retried_until_delivered(post, run_worker, fox, db_path):
    post(live_order())
    post(json.dumps(documented_fulfillment()).encode(), "fulfillments/create")
    fox.fail_next(1)  # login
    fox.fail_next(2, status=429, headers={"Retry-After": "1"})
    fox.fail_next(2, status=503)
    fox.fail_next(1, status=502, body="<html>bad gateway</html>")
    fox.fail_next(1, delay_s=0.5)  # past the 0.3 s timeout; applied late (then a 409 → find → PATCH)
    run_until_synced(lambda: run_worker(**{"target.timeout_s": 0.3}), db_path)
    order = the_order(fox)
    assert len(order["parcels"]) == 1
    attempts = query(db_path, "SELECT outcome, status_code, error FROM attempts ORDER BY id")
    # A failed login is not asked again during its back-off: those attempts sent nothing.
    transient = [a for a in attempts if a["outcome"] == "transient" and "no new login" not in a["error"]]
    assert [a["status_code"] for a in transient] == [429, 429, 503, 503, 502, None]
    assert "timeout" in transient[-1]["error"]


def test_a_refused_eshop_holds_the_shop_instead_of_dead_lettering(post, run_worker, fox, db_path, client, settings):
    """Foxdeli's 403 "Eshop was not found for this API key" is the account's fault, not the
    order's: the order waits (held, with Foxdeli's reason), nothing is dead-lettered, and the
    fixed setting delivers it once the worker starts again."""
    other_eshop = "00000000-0000-0000-0000-000000000000"
    post(live_order())
    stats = run_worker(**{"target.eshop_id": other_eshop})
    assert (stats.held, stats.dead) == (1, 0)
    assert calls(fox, "POST") == 1  # not retried
    row = order_row(db_path)
    assert row["status"] == "held"
    assert row["last_error"] == (
        f"create order: HTTP 403 | Eshop was not found for this API key | "
        f"Eshop with id {other_eshop} doesn't exist in this account."
    )
    auth = {"Authorization": "Bearer admin-token"}
    assert client.get("/admin/failures", headers=auth).json["failures"] == []
    (check_ok, message) = tuple(query(db_path, "SELECT check_ok, check_message FROM shop_settings")[0].values())
    assert check_ok == 0 and "Eshop was not found" in message
    run_worker()  # the operator fixed target.eshop_id and restarted
    assert order_row(db_path)["status"] == "synced"
    assert scalar(db_path, "SELECT check_ok FROM shop_settings") == 1
    the_order(fox)


def test_constraint_violation_reason_lists_the_violations(post, run_worker, fox, db_path):
    post(live_order())
    fox.fail_next(1)  # login
    fox.fail_next(1, status=400, body={"type": "about:blank", "title": "Bad Request", "status": 400,
                                       "detail": "Input data validation error - constraint violation.",
                                       "violations": {"destination.address.postalCode": "must not be blank"}})
    assert run_worker().dead == 1
    assert order_row(db_path)["last_error"] == (
        "create order: HTTP 400 | Bad Request | Input data validation error - constraint violation. | "
        "violations: destination.address.postalCode: must not be blank"
    )
    assert fox.orders == {}


# -- one login for every thread --------------------------------------------------------------------------
AUTH_PATH = "/customer/api/v1/token/authorize"


def logins(fox: FoxdeliStandIn) -> list[float]:
    """When each login reached Foxdeli (monotonic seconds)."""
    return [r.received_at for r in fox.requests if r.path == AUTH_PATH]


def post_orders(post: Callable[..., Any], count: int) -> None:
    for n in range(count):
        order_id = int(ORDER_ID) + n
        order = json.loads(live_order(id=order_id, admin_graphql_api_id=f"gid://shopify/Order/{order_id}"))
        post(json.dumps({**order, "name": f"#T{n}", "order_number": 5000 + n}).encode())


def test_concurrent_deliveries_share_one_login(post, run_worker, fox):
    fox.latency_s = 0.02  # the threads' first requests overlap
    post_orders(post, 12)
    assert run_worker(**{"worker.concurrency": 6}).delivered == 12
    assert len(fox.orders) == 12 and len(logins(fox)) == 1


def test_a_429_on_login_holds_every_thread_for_its_retry_after(post, settings, fox):
    post_orders(post, 6)
    fox.fail_next(1, status=429, headers={"Retry-After": "1"})  # the first login
    worker = Worker(Settings({**settings.values, "worker.concurrency": 6}, settings.shops, settings.source))
    deadline = time.monotonic() + 10
    while worker.stats.delivered < 6 and time.monotonic() < deadline:
        worker.run(once=True)  # the same process all along: its retries come back within the Retry-After
        time.sleep(0.05)
    assert worker.stats.delivered == 6
    first, second, *more = logins(fox)
    assert more == [] and second - first >= 1.0  # nobody asked again before Foxdeli said


def test_refused_credentials_are_asked_once_not_once_per_order(post, run_worker, fox, db_path):
    post_orders(post, 8)
    stats = run_worker(**{"worker.concurrency": 4, "target.password": "wrong-password"})
    assert stats.delivered == 0 and stats.dead == 0
    assert len(logins(fox)) == 1
    held = scalar(db_path, "SELECT count(*) FROM orders WHERE status = 'held'")
    assert held >= 1 and fox.orders == {}


# -- dry run with the Foxdeli mapping ------------------------------------------------------------------
def test_dry_run_with_the_foxdeli_mapping_records_the_foxdeli_payload(settings, post, db_path, fox):
    dry = Settings({**settings.values, "target.kind": "dry-run", "target.dry_run_mapping": "foxdeli"},
                   settings.shops)
    post(fixture_bytes(DOCS_ORDER))
    post(json.dumps(documented_fulfillment()).encode(), "fulfillments/create")
    Worker(dry).run(once=True)
    with closing(connect(db_path)) as db:
        records = {r["kind"]: r for r in list_dry_runs(db, order_id=ORDER_ID)}
    assert set(records) == {"order", "fulfillment"} and {r["mapping"] for r in records.values()} == {"foxdeli"}
    golden = json.loads((GOLDEN_DIR / "foxdeli" / DOCS_ORDER).read_text())
    assert golden["_cancelled"]  # the mapping's instruction to the client (cancel after the upsert) ...
    assert records["order"]["payload"] == {k: v for k, v in golden.items() if not k.startswith("_")}  # ... never sent
    assert records["fulfillment"]["payload"]["parcels"][0]["tracking"] == [{"carrier": "UPS", "number": "1z827wk74630"}]
    assert fox.requests == []  # a dry run sends nothing
