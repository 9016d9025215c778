"""The delivering worker against a real HTTP target stand-in: once, newest, nothing lost."""

from __future__ import annotations

import json
import logging
import threading
import time
from datetime import timedelta

import pytest

from connector.config import Settings
from connector.store import failures as failure_store
from connector.store.holds import DeliveryScope
from connector.timeutil import now_db, to_db_time, utc_now
from connector.worker.loop import Worker
from tests.support import DOCS_ORDER, OLD_ORDER, ORDER_ID, SHOP, execute, fixture_bytes, order_body, query, scalar

ALL_SHOPS = DeliveryScope(all_shops=True)
pytestmark = pytest.mark.both_engines

ORDER_PATH = f"/orders/{SHOP}/{ORDER_ID}"


def order_row(db_path: str, order_id: str = ORDER_ID) -> dict:
    return query(db_path, "SELECT * FROM orders WHERE order_id = ?", [order_id])[0]


def event_states(db_path: str) -> list[str]:
    return [r["state"] for r in query(db_path, "SELECT state FROM events ORDER BY id")]


def test_order_webhook_is_delivered_once(post, run_worker, target, db_path):
    post(fixture_bytes(DOCS_ORDER))
    stats = run_worker()
    assert stats.delivered == 1
    assert target.writes[ORDER_PATH] == 1
    document = target.documents[ORDER_PATH]
    assert document["order_id"] == int(ORDER_ID) and document["total_price"] == "359.97"
    row = order_row(db_path)
    assert row["status"] == "synced" and row["remote_id"] == f"remote-{ORDER_ID}"
    assert row["delivered_updated_at"].startswith("2022-01-01T00:00:00")
    assert event_states(db_path) == ["delivered"]


def test_duplicate_delivery_makes_one_delivery(post, run_worker, target):
    body = fixture_bytes(DOCS_ORDER)
    post(body, webhook_id="w-1", event_id="e-1")
    post(body, webhook_id="w-1", event_id="e-1")
    run_worker()
    assert target.writes[ORDER_PATH] == 1


def test_same_state_under_other_topics_is_not_sent_again(post, run_worker, target, db_path):
    body = fixture_bytes(DOCS_ORDER)
    post(body, "orders/create")
    run_worker()
    post(body, "orders/paid")
    post(body, "orders/updated")
    run_worker()
    assert target.writes[ORDER_PATH] == 1  # unchanged payload (same hash): the target is not called
    assert event_states(db_path).count("unchanged") + event_states(db_path).count("superseded") == 2


def test_pending_events_of_one_order_fold_into_one_delivery_of_the_newest(post, run_worker, target):
    for minute, note in [(1, "first"), (3, "third"), (2, "second")]:
        post(order_body(updated_at=f"2026-11-25T10:0{minute}:00Z", note=note, total_price=f"{minute}.00"), "orders/updated")
    run_worker()
    assert target.writes[ORDER_PATH] == 1
    assert target.documents[ORDER_PATH]["total_price"] == "3.00"


def test_update_before_create_and_stale_retry_keep_the_newest(post, run_worker, target, db_path):
    newest = order_body(DOCS_ORDER)  # updated_at 2022-…
    older = fixture_bytes(OLD_ORDER)  # same order id, updated_at 2017-…
    post(newest, "orders/updated")
    run_worker()
    post(older, "orders/create")  # arrives late: older than what was delivered
    run_worker()
    assert target.writes[ORDER_PATH] == 1
    assert target.documents[ORDER_PATH]["total_price"] == "359.97"
    assert event_states(db_path) == ["delivered", "stale"]
    # Both queued at once: the older one is folded away, never sent.
    post(order_body(DOCS_ORDER, updated_at="2026-01-01T00:00:00Z", total_price="1.00"), "orders/updated")
    post(order_body(OLD_ORDER, updated_at="2025-01-01T00:00:00Z"), "orders/updated")
    run_worker()
    assert target.writes[ORDER_PATH] == 2
    assert target.documents[ORDER_PATH]["total_price"] == "1.00"


def test_target_outage_is_retried_durably_until_it_recovers(post, run_worker, target, db_path):
    post(fixture_bytes(DOCS_ORDER))
    target.fail_next(5, status=503)
    # Two in-process attempts, then rescheduled for later than this run can reach (however fast
    # the store answers).
    run_worker(**{"retry.first_delay_s": 0.3, "retry.max_delay_s": 0.3})
    row = order_row(db_path)
    assert row["status"] == "retrying" and row["attempts"] == 1 and "HTTP 503" in row["last_error"]
    assert ORDER_PATH not in target.documents
    for _ in range(30):
        time.sleep(0.06)  # retry.max_delay_s is 0.05 in tests
        run_worker()
        if order_row(db_path)["status"] == "synced":
            break
    assert order_row(db_path)["status"] == "synced"
    assert target.writes[ORDER_PATH] == 1
    attempts = query(db_path, "SELECT outcome, status_code FROM attempts ORDER BY id")
    assert [a["outcome"] for a in attempts].count("transient") == 5
    assert attempts[-1]["outcome"] == "delivered"


def test_connection_refused_and_timeouts_are_transient(post, run_worker, target, db_path):
    post(fixture_bytes(DOCS_ORDER))
    target.fail_next(1, drop=True)
    target.fail_next(1, delay_s=2.5)  # past target.timeout_s = 2
    run_worker()
    attempts = query(db_path, "SELECT outcome, error FROM attempts ORDER BY id")
    assert [a["outcome"] for a in attempts[:2]] == ["transient", "transient"] and "timeout" in attempts[1]["error"]
    deadline = time.monotonic() + 10
    while order_row(db_path)["status"] != "synced" and time.monotonic() < deadline:
        time.sleep(0.06)  # the durable retry is due within 0.05 s (it may already have run above)
        run_worker()
    assert order_row(db_path)["status"] == "synced" and order_row(db_path)["attempts"] == 0
    assert query(db_path, "SELECT * FROM failures") == []  # retried, never dead-lettered


def test_retry_after_is_honoured_and_capped(post, run_worker, target, db_path, settings):
    post(fixture_bytes(DOCS_ORDER))
    target.fail_next(2, status=429, headers={"Retry-After": "7200"})
    started = time.time()
    run_worker(**{"retry.max_delay_s": 30.0})
    row = order_row(db_path)
    assert row["status"] == "retrying"
    from connector.timeutil import parse_iso

    wait = parse_iso(row["next_attempt_at"]).timestamp() - started
    assert 25 <= wait <= 31  # Retry-After 2 h, capped at retry.max_delay_s
    assert run_worker().delivered == 0  # not due yet: --once exits without calling the target
    assert len(target.requests) == 1  # the long Retry-After ended the in-process round at once


def test_permanent_error_goes_to_dead_letter_with_reason_and_replays(post, run_worker, target, db_path, client):
    target.reject_paths[ORDER_PATH] = (422, {"error": "postal code invalid"})
    post(fixture_bytes(DOCS_ORDER))
    stats = run_worker()
    assert stats.dead == 1
    assert len(target.requests) == 1  # a permanent failure is not retried
    row = order_row(db_path)
    assert row["status"] == "dead" and "HTTP 422" in row["last_error"] and "postal code invalid" in row["last_error"]
    auth = {"Authorization": "Bearer admin-token"}
    [failure] = client.get("/admin/failures", headers=auth).json["failures"]
    assert failure["order_id"] == ORDER_ID and "postal code invalid" in failure["reason"]
    assert event_states(db_path) == ["dead"]
    # The operator fixes the cause and replays.
    del target.reject_paths[ORDER_PATH]
    assert client.post(f"/admin/failures/{failure['id']}/replay", headers=auth).json["replayed"] == 1
    run_worker()
    assert order_row(db_path)["status"] == "synced" and target.writes[ORDER_PATH] == 1
    # Kept, closed by the replay (the delivery after it does not rewrite why).
    assert scalar(db_path, "SELECT resolution FROM failures") == failure_store.REPLAYED
    assert client.get("/admin/failures", headers=auth).json["failures"] == []
    assert client.post(f"/admin/failures/{failure['id']}/replay", headers=auth).status_code == 404
    # The closed entry is still listed on request, with when and why it closed.
    [closed] = client.get("/admin/failures?all=1", headers=auth).json["failures"]
    assert closed["id"] == failure["id"] and closed["resolution"] == failure_store.REPLAYED and closed["replayed_at"]
    assert client.get("/admin/failures?all=yes", headers=auth).status_code == 400


def test_connector_failures_all_lists_closed_entries_with_their_resolution(tmp_path) -> None:
    from click.testing import CliRunner

    from connector.cli import main
    from connector.store.db import connect

    config = tmp_path / "c.toml"
    config.write_text(f'[shopify]\napi_secret = "s"\n[database]\npath = "{tmp_path / "c.db"}"\n')
    runner = CliRunner()
    assert runner.invoke(main, ["worker", "--once", "--config", str(config)]).exit_code == 0  # creates it
    db = connect(str(tmp_path / "c.db"))
    try:
        for order_id, replayed_at, resolution in [("1", None, None), ("2", "2026-11-26T10:00:00.000000Z", "replayed")]:
            db.execute(
                "INSERT INTO failures (shop, order_id, reason, attempts, failed_at, replayed_at, resolution) "
                "VALUES (?, ?, 'HTTP 422', 1, '2026-11-25T10:00:00.000000Z', ?, ?)",
                [SHOP, order_id, replayed_at, resolution],
            )
    finally:
        db.close()
    open_only = runner.invoke(main, ["failures", "--config", str(config)]).output
    assert "HTTP 422" in open_only and "replayed" not in open_only and len(open_only.strip().splitlines()) == 3
    every = runner.invoke(main, ["failures", "--all", "--config", str(config)]).output.strip().splitlines()
    assert every[0].split()[-2:] == ["closed_at", "resolution"] and len(every) == 4
    assert every[2].split()[-1] == "replayed" and "2026-11-26T10:00:00" in every[2]  # newest first
    assert every[3].split()[-1] == "open"


GIVE_UP = {"retry.give_up_after_s": 60, "retry.in_process_attempts": 1}


def fail_past_the_give_up_age(db_path: str) -> None:
    """The order has been failing for two minutes (twice GIVE_UP's age) and is due now.

    Set in the store rather than waited out: with a give-up age of a fraction of a second, a
    loaded machine dead-lettered the order within the first worker pass, never seen retrying.
    """
    failing_since = to_db_time(utc_now() - timedelta(seconds=120))
    execute(db_path, "UPDATE orders SET first_failed_at = ?, next_attempt_at = ? WHERE order_id = ?",
            [failing_since, now_db(), ORDER_ID])


def test_events_past_the_give_up_age_are_dead_lettered(post, run_worker, target, db_path):
    post(fixture_bytes(DOCS_ORDER))
    target.fail_next(100, status=500)
    run_worker(**GIVE_UP)
    assert order_row(db_path)["status"] == "retrying"
    fail_past_the_give_up_age(db_path)
    run_worker(**GIVE_UP)
    row = order_row(db_path)
    assert row["status"] == "dead" and row["last_error"].startswith("gave up after 12")
    assert scalar(db_path, "SELECT count(*) FROM failures WHERE replayed_at IS NULL") == 1


def test_newer_state_revives_a_dead_lettered_order(post, run_worker, target, db_path):
    target.reject_paths[ORDER_PATH] = (400, {"error": "bad"})
    post(fixture_bytes(DOCS_ORDER))
    run_worker()
    assert order_row(db_path)["status"] == "dead"
    del target.reject_paths[ORDER_PATH]
    post(order_body(updated_at="2026-11-25T11:00:00Z"), "orders/updated")
    run_worker()
    assert order_row(db_path)["status"] == "synced"


def open_dead_letters(client) -> tuple[list[dict], float]:
    """What an operator sees: ``/admin/failures`` and the ``connector_dead_letters`` gauge."""
    listed = client.get("/admin/failures", headers={"Authorization": "Bearer admin-token"}).json["failures"]
    metrics = client.get("/metrics").get_data(as_text=True)
    [gauge] = [line.split()[1] for line in metrics.splitlines() if line.startswith("connector_dead_letters ")]
    return listed, float(gauge)


@pytest.mark.parametrize("cause", ["refused", "gave up"])
def test_delivering_a_revived_order_settles_its_dead_letter(post, run_worker, target, db_path, client, cause):
    # Dead-lettered: refused for good by the target, or failing past the give-up age.
    if cause == "refused":
        target.reject_paths[ORDER_PATH] = (400, {"error": "bad"})
        post(fixture_bytes(DOCS_ORDER))
        run_worker()
    else:
        target.fail_next(100, status=500)
        post(fixture_bytes(DOCS_ORDER))
        run_worker(**GIVE_UP)
        fail_past_the_give_up_age(db_path)
        run_worker(**GIVE_UP)
    assert order_row(db_path)["status"] == "dead"
    [listed], gauge = open_dead_letters(client)
    assert listed["order_id"] == ORDER_ID and gauge == 1
    # The cause goes away; a newer Shopify state revives the order and it is delivered.
    target.reject_paths.clear()
    with target.lock:
        target.faults.clear()
    post(order_body(updated_at="2026-11-25T11:00:00Z"), "orders/updated")
    assert run_worker(**GIVE_UP).delivered == 1
    assert order_row(db_path)["status"] == "synced"
    assert open_dead_letters(client) == ([], 0)  # the alert's gauge is back to 0
    # The entry is kept, closed with when and why.
    [entry] = query(db_path, "SELECT * FROM failures")
    assert entry["id"] == listed["id"] and entry["replayed_at"] >= entry["failed_at"]
    assert entry["resolution"] == failure_store.DELIVERED


def test_unknown_shop_is_kept_aside_never_delivered(post, run_worker, target, db_path):
    post(fixture_bytes(DOCS_ORDER), shop="stranger.myshopify.com")
    run_worker()
    assert target.requests == []
    [event] = query(db_path, "SELECT state, reason FROM events")
    assert event["state"] == "held" and "not installed" in event["reason"]


def test_invalid_body_is_kept_aside_with_a_reason(post, run_worker, target, db_path):
    post(b"{not json")
    post(b'["an array"]', "orders/updated")
    post(b'{"no": "id"}', "orders/updated")
    post(json.dumps({"id": 2**70, "updated_at": "2026-01-01T00:00:00Z", "line_items": []}).encode(), "orders/updated")
    run_worker()
    rows = query(db_path, "SELECT state, reason FROM events ORDER BY id")
    assert [r["state"] for r in rows[:3]] == ["invalid", "invalid", "invalid"]
    assert "not JSON" in rows[0]["reason"] and "object" in rows[1]["reason"] and "id" in rows[2]["reason"]
    # A huge id is still an id: kept exact as text, delivered.
    assert rows[3]["state"] == "delivered"
    assert f"/orders/{SHOP}/{2**70}" in target.documents


def test_other_topics_are_acknowledged_and_ignored(post, run_worker, target, db_path):
    post(b'{"id": 1}', "products/update")
    run_worker()
    assert target.requests == [] and event_states(db_path) == ["ignored"]


def test_fulfillment_and_refund_are_delivered_as_parts(post, run_worker, target, db_path):
    post(fixture_bytes(DOCS_ORDER))
    fulfillment = json.loads(fixture_bytes("fulfillments_create.shopify-docs-2026-04.json"))
    fulfillment["order_id"] = int(ORDER_ID)
    post(json.dumps(fulfillment).encode(), "fulfillments/create")
    refund = json.loads(fixture_bytes("refunds_create.shopify-docs-2026-04.json"))
    refund["order_id"] = int(ORDER_ID)
    post(json.dumps(refund).encode(), "refunds/create")
    run_worker()
    fulfillment_path = f"{ORDER_PATH}/fulfillments/{fulfillment['id']}"
    assert target.documents[fulfillment_path]["tracking_numbers"] == fulfillment["tracking_numbers"]
    assert f"{ORDER_PATH}/refunds/{refund['id']}" in target.documents
    assert set(event_states(db_path)) == {"delivered"}
    # A fulfillment update with the same content is not sent again; a new tracking number is.
    post(json.dumps(fulfillment).encode(), "fulfillments/update")
    fulfillment.update(tracking_numbers=["NEW123"], updated_at="2030-01-01T00:00:00Z")
    post(json.dumps(fulfillment).encode(), "fulfillments/update")
    run_worker()
    assert target.writes[fulfillment_path] == 2
    assert target.documents[fulfillment_path]["tracking_numbers"] == ["NEW123"]


def test_order_delete_reaches_the_target_and_later_snapshots_are_stale(post, run_worker, target, db_path):
    post(fixture_bytes(DOCS_ORDER))
    run_worker()
    post(json.dumps({"id": int(ORDER_ID)}).encode(), "orders/delete")
    run_worker()
    assert ORDER_PATH in target.deleted
    post(order_body(updated_at="2030-01-01T00:00:00Z"), "orders/updated")
    run_worker()
    assert target.writes[ORDER_PATH] == 2  # one PUT, one DELETE, nothing after
    assert event_states(db_path)[-1] == "stale"


def test_two_workers_never_deliver_one_order_at_once(settings, post, target, db_path):
    target.latency_s = 0.02
    for n in range(30):
        for version in range(3):
            post(order_body(id=1000 + n, updated_at=f"2026-11-25T10:00:0{version}Z", note=str(version)), "orders/updated")
    fast = Settings({**settings.values, "worker.concurrency": 4}, settings.shops)
    workers = [Worker(fast, name=f"w{i}") for i in range(2)]
    threads = [threading.Thread(target=w.run, kwargs={"once": True}) for w in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert target.max_concurrent_per_order == 1
    assert len(target.orders()) == 30
    assert all(count == 1 for count in target.writes.values()), target.writes
    assert sum(w.stats.delivered for w in workers) == 30
    assert all(w.stats.delivered > 0 for w in workers)  # both took a share


def test_expired_lease_of_a_crashed_worker_is_taken_over(settings, post, run_worker, target, db_path, db):
    from connector.store.db import write_transaction
    from connector.store.orders import claim_due_orders
    from connector.worker.triage import triage_new_events

    post(fixture_bytes(DOCS_ORDER))
    triage_new_events(db, 10)
    with write_transaction(db):
        assert claim_due_orders(db, "crashed-worker", 10, lease_s=1.5, scope=ALL_SHOPS) == [(SHOP, ORDER_ID)]
    assert run_worker().delivered == 0  # leased by someone else: not touched
    time.sleep(1.6)
    assert run_worker().delivered == 1
    assert target.writes[ORDER_PATH] == 1


def test_old_processed_events_are_pruned_but_newest_bodies_and_open_events_kept(post, run_worker, target, db_path, db):
    from connector.store.events import prune_events

    post(order_body(updated_at="2026-01-01T00:00:00Z"), "orders/updated")
    run_worker()
    post(order_body(updated_at="2026-01-02T00:00:00Z"), "orders/updated")
    post(order_body(updated_at="2025-01-01T00:00:00Z"), "orders/updated")  # stale
    post(b'{"id": 1}', "products/update")
    post(fixture_bytes(DOCS_ORDER), shop="stranger.myshopify.com")  # held: a shop that never installed
    post(order_body(updated_at="2026-01-04T00:00:00Z"), "orders/updated", shop="stranger.myshopify.com")
    run_worker()
    assert prune_events(db, older_than_s=3600) == 0  # nothing old enough
    # first delivered, stale, ignored, and the stranger's held events: retention applies to them too
    assert prune_events(db, older_than_s=0) == 5
    left = [r["state"] for r in db.query("SELECT state FROM events ORDER BY id")]
    assert left == ["delivered"]  # the newest body of the order
    post(order_body(updated_at="2026-01-03T00:00:00Z"), "orders/updated")
    run_worker()
    assert target.writes[ORDER_PATH] == 3  # deliveries go on after pruning


def test_each_finished_step_extends_the_lease_of_a_long_delivery(post, run_worker, target, db_path, settings, db):
    """An order with many parts keeps its lease while it is delivered step by step."""
    from connector.store.db import write_transaction
    from connector.store.orders import claim_due_orders, load_order_work
    from connector.targets.base import ShopContext
    from connector.targets.http import HttpJsonTarget
    from connector.targets.http.settings import HttpSettings
    from connector.worker.deliver import OrderDelivery
    from connector.worker.retrying import RetryPolicy
    from connector.worker.triage import triage_new_events

    post(fixture_bytes(DOCS_ORDER))
    fulfillment = json.loads(fixture_bytes("fulfillments_create.shopify-docs-2026-04.json"))
    fulfillment["order_id"] = int(ORDER_ID)
    post(json.dumps(fulfillment).encode(), "fulfillments/create")
    triage_new_events(db, 10)
    with write_transaction(db):
        claim_due_orders(db, "me", 1, lease_s=1, scope=ALL_SHOPS)
    leases = []
    target.latency_s = 0.05

    class Watching(HttpJsonTarget):
        def send_part(self, *args, **kwargs):  # records the lease seen mid-delivery
            leases.append(scalar(db_path, "SELECT lease_until FROM orders"))
            return super().send_part(*args, **kwargs)

    ctx = ShopContext(SHOP, HttpSettings.from_target(settings.target_for(SHOP)))
    delivery = OrderDelivery(db, Watching(), ctx, RetryPolicy.from_settings(settings), "me", lease_s=600)
    assert delivery.run(load_order_work(db, SHOP, ORDER_ID)).result == "delivered"
    from connector.timeutil import parse_iso

    assert parse_iso(leases[0]).timestamp() - time.time() > 500  # renewed after the order step
    assert order_row(db_path)["lease_owner"] is None  # released at the end


def test_a_newer_state_folded_while_the_order_is_sent_keeps_it_due(post, run_worker, target, db_path, settings, db):
    """The UPDATE that records the delivered snapshot also ends the claim: the work left is
    computed with the event just delivered, so a newer body folded meanwhile is still to send."""
    from connector.store.db import write_transaction
    from connector.store.orders import claim_due_orders, load_order_work
    from connector.targets.base import ShopContext
    from connector.targets.http import HttpJsonTarget
    from connector.targets.http.settings import HttpSettings
    from connector.worker.deliver import OrderDelivery
    from connector.worker.retrying import RetryPolicy
    from connector.worker.triage import triage_new_events

    post(order_body(updated_at="2026-11-25T10:00:00Z", note="first"), "orders/updated")
    triage_new_events(db, 10)
    with write_transaction(db):
        assert claim_due_orders(db, "me", 1, lease_s=30, scope=ALL_SHOPS) == [(SHOP, ORDER_ID)]

    class NewerMeanwhile(HttpJsonTarget):
        def send_order(self, *args, **kwargs):  # Shopify sends a newer state while we deliver
            post(order_body(updated_at="2026-11-25T11:00:00Z", note="second"), "orders/updated")
            assert triage_new_events(db, 10) == 1
            return super().send_order(*args, **kwargs)

    ctx = ShopContext(SHOP, HttpSettings.from_target(settings.target_for(SHOP)))
    delivery = OrderDelivery(db, NewerMeanwhile(), ctx, RetryPolicy.from_settings(settings), "me")
    assert delivery.run(load_order_work(db, SHOP, ORDER_ID)).result == "delivered"
    row = order_row(db_path)
    assert (row["status"], row["has_work"], row["lease_owner"]) == ("pending", 1, None)
    assert row["newest_event_id"] > row["delivered_event_id"]
    run_worker()
    after = order_row(db_path)
    assert target.writes[ORDER_PATH] == 2 and after["status"] == "synced"
    assert after["delivered_event_id"] == row["newest_event_id"]  # the newer state is what the target has


@pytest.mark.sqlite_only  # the statements are SQLite's trace; the others run on both engines
def test_triage_folds_a_run_of_order_events_in_one_savepoint(post, db):
    from connector.worker.triage import triage_new_events

    for order_id in (1001, 1002, 1003):
        post(order_body(id=order_id, admin_graphql_api_id=f"gid://shopify/Order/{order_id}"), "orders/create")
    statements: list[str] = []
    db.conn.set_trace_callback(statements.append)
    try:
        assert triage_new_events(db, 10) == 3
    finally:
        db.conn.set_trace_callback(None)
    assert [s for s in statements if "SAVEPOINT" in s] == ["SAVEPOINT triage_run", "RELEASE SAVEPOINT triage_run"]
    assert [r[0] for r in db.execute("SELECT state FROM events ORDER BY id")] == ["queued"] * 3


@pytest.mark.sqlite_only  # the statements are SQLite's trace; the others run on both engines
def test_a_delivered_order_reads_its_work_once_and_checks_its_lease_in_its_first_write(post, target, db_path, settings, db):
    """The statements one delivered order costs: its work (row, parts, open dead letters) in one
    read; the lease checked, the snapshot recorded and the claim ended by one UPDATE; no settling
    of dead letters it has none of."""
    from connector.store.db import group_commit_db, write_transaction
    from connector.store.orders import claim_due_orders, load_order_work
    from connector.targets.base import ShopContext
    from connector.targets.http import HttpJsonTarget
    from connector.targets.http.settings import HttpSettings
    from connector.worker.deliver import OrderDelivery
    from connector.worker.retrying import RetryPolicy
    from connector.worker.triage import triage_new_events

    post(order_body(updated_at="2026-11-25T10:00:00Z"), "orders/updated")
    triage_new_events(db, 10)
    with write_transaction(db):
        assert claim_due_orders(db, "me", 1, lease_s=30, scope=ALL_SHOPS) == [(SHOP, ORDER_ID)]
    statements: list[str] = []
    for conn in (db.conn, group_commit_db(db.location, db.busy_timeout_s).conn):  # reads, and the group commits
        conn.set_trace_callback(statements.append)
    ctx = ShopContext(SHOP, HttpSettings.from_target(settings.target_for(SHOP)))
    delivery = OrderDelivery(db, HttpJsonTarget(), ctx, RetryPolicy.from_settings(settings), "me")
    try:
        assert delivery.run(load_order_work(db, SHOP, ORDER_ID)).result == "delivered"
    finally:
        for conn in (db.conn, group_commit_db(db.location, db.busy_timeout_s).conn):
            conn.set_trace_callback(None)
    reads_of_work = [s for s in statements if "FROM orders" in s and s.lstrip().startswith("SELECT")]
    assert len(reads_of_work) == 1 and "order_parts" in reads_of_work[0] and "failures" in reads_of_work[0]
    assert not [s for s in statements if "SELECT lease_owner" in s]
    assert not [s for s in statements if "UPDATE failures" in s]
    writes = [s for s in statements if s.startswith(("UPDATE", "INSERT"))]
    (order_write,) = [s for s in writes if s.startswith("UPDATE orders")]
    assert writes[0] == order_write and order_write.startswith("UPDATE orders SET delivered_event_id")
    assert "lease_owner = 'me'" in order_write and "lease_owner = NULL" in order_write  # fenced, and released
    row = order_row(db_path)
    assert (row["status"], row["has_work"], row["lease_owner"]) == ("synced", 0, None) and target.writes[ORDER_PATH] == 1


def test_a_stalled_worker_whose_lease_was_taken_over_records_nothing(post, target, db_path, settings, db, caplog):
    """Fencing: the stalled owner sent, but the order's sync state is the new owner's alone."""
    from connector.store.db import write_transaction
    from connector.store.orders import claim_due_orders, load_order_work
    from connector.targets.base import ShopContext
    from connector.targets.http import HttpJsonTarget
    from connector.targets.http.settings import HttpSettings
    from connector.worker.deliver import OrderDelivery
    from connector.worker.retrying import RetryPolicy
    from connector.worker.triage import triage_new_events

    post(order_body(updated_at="2026-11-25T10:00:00Z", note="old"), "orders/updated")
    triage_new_events(db, 10)
    with write_transaction(db):
        assert claim_due_orders(db, "stalled", 1, lease_s=0.2, scope=ALL_SHOPS) == [(SHOP, ORDER_ID)]
    stale_work = load_order_work(db, SHOP, ORDER_ID)
    time.sleep(0.3)  # the stalled worker's lease lapses; a newer state arrives; another worker claims
    post(order_body(updated_at="2026-11-25T11:00:00Z", note="new"), "orders/updated")
    triage_new_events(db, 10)
    with write_transaction(db):
        assert claim_due_orders(db, "new-owner", 1, lease_s=30, scope=ALL_SHOPS) == [(SHOP, ORDER_ID)]
    ctx = ShopContext(SHOP, HttpSettings.from_target(settings.target_for(SHOP)))
    policy = RetryPolicy.from_settings(settings)
    fresh = OrderDelivery(db, HttpJsonTarget(), ctx, policy, "new-owner").run(load_order_work(db, SHOP, ORDER_ID))
    assert fresh.result == "delivered"
    with caplog.at_level(logging.INFO, logger="connector"):
        stalled = OrderDelivery(db, HttpJsonTarget(), ctx, policy, "stalled").run(stale_work)
    assert stalled.result == "lost"
    # A lapsed lease is fencing at work, not a bug: one warning, no "unexpected error" traceback.
    assert [r.getMessage().split(":")[0] for r in caplog.records if r.levelno >= logging.WARNING] == [
        "lease lost, result not recorded"
    ]
    row = order_row(db_path)
    assert row["delivered_updated_at"].startswith("2026-11-25T11:00:00")  # not moved back to 10:00
    assert row["status"] == "synced" and row["lease_owner"] is None
    assert event_states(db_path) == ["delivered", "delivered"]  # the new owner's delivery covered both
    attempts = query(db_path, "SELECT worker FROM attempts ORDER BY id")
    assert [a["worker"] for a in attempts] == ["new-owner", "stalled"]  # both sends are on record


def test_a_worker_does_not_claim_its_own_orders_in_flight(post, db_path, db):
    from connector.store.db import write_transaction
    from connector.store.orders import claim_due_orders
    from connector.worker.triage import triage_new_events

    for n in range(3):
        post(order_body(id=2000 + n), "orders/updated")
    triage_new_events(db, 10)
    with write_transaction(db):
        first = claim_due_orders(db, "me", 1, lease_s=0.01, scope=ALL_SHOPS)
    time.sleep(0.05)  # our lease on it lapsed, but it is still being delivered
    with write_transaction(db):
        rest = claim_due_orders(db, "me", 5, lease_s=30, exclude=set(first), scope=ALL_SHOPS)
    assert len(first) == 1 and len(rest) == 2 and not set(first) & set(rest)


def test_a_stopping_worker_does_not_wait_out_its_retries_and_loses_nothing(post, settings, db_path, target):
    """SIGTERM during an in-process retry wait: the worker ends within a moment, the order is
    rescheduled in the store and delivered by the next worker."""
    import threading
    import time

    from connector.config import Settings
    from connector.store.db import connect
    from connector.worker.loop import Worker
    from tests.conftest import ORDER_ID, SHOP, live_order

    assert post(live_order()).status_code == 200
    slow = Settings({**settings.values, "retry.first_delay_s": 5.0, "retry.max_delay_s": 60.0,
                     "retry.in_process_window_s": 30.0, "retry.in_process_attempts": 4}, settings.shops, settings.source)
    target.fail_next(1, status=503, headers={"Retry-After": "20"})
    worker = Worker(slow, name="stopping")
    runner = threading.Thread(target=worker.run, daemon=True)
    runner.start()
    deadline = time.monotonic() + 10
    while not target.requests and time.monotonic() < deadline:
        time.sleep(0.02)
    assert target.requests, "the worker never reached the target"
    time.sleep(0.2)  # inside the retry wait now
    stopped_at = time.monotonic()
    worker.stop()
    runner.join(10)
    assert not runner.is_alive() and time.monotonic() - stopped_at < 3
    db = connect(db_path)
    try:
        status, lease, error = db.execute("SELECT status, lease_owner, last_error FROM orders").fetchone()
        assert (status, lease) == ("retrying", None) and "503" in error
        assert db.execute("SELECT state FROM events").fetchone()[0] == "queued"
        db.execute("UPDATE orders SET next_attempt_at = '2000-01-01T00:00:00.000000Z'")  # due now
    finally:
        db.close()
    assert Worker(settings, name="next").run(once=True).delivered == 1
    assert target.writes[f"/orders/{SHOP}/{ORDER_ID}"] == 1


def test_orders_leased_ahead_are_given_back_when_the_worker_stops(post, settings, db_path, target):
    """The worker leases orders half its threads ahead; those it never started are not
    left leased when it stops (the next worker takes them at once, not after worker.lease_s)."""
    import threading
    import time

    from connector.config import Settings
    from connector.store.db import connect
    from connector.worker.loop import Worker

    for n in range(12):
        assert post(order_body(id=5000 + n), "orders/updated").status_code == 200
    target.latency_s = 1.0  # the first four are still at the target when the lease count is read
    four = Settings({**settings.values, "worker.concurrency": 4}, settings.shops, settings.source)
    worker = Worker(four, name="ahead")
    runner = threading.Thread(target=worker.run, daemon=True)
    runner.start()
    deadline = time.monotonic() + 10
    while len(target.requests) < 4 and time.monotonic() < deadline:
        time.sleep(0.02)
    db = connect(db_path)
    try:
        leased = db.execute("SELECT count(*) FROM orders WHERE lease_owner = 'ahead'").fetchone()[0]
        assert leased == 6, "4 delivering and two (half of 4) leased ahead"
        worker.stop()
        runner.join(10)
        assert not runner.is_alive()
        assert db.execute("SELECT count(*) FROM orders WHERE lease_owner IS NOT NULL").fetchone()[0] == 0
    finally:
        db.close()
        target.latency_s = 0.0
    assert worker.stats.delivered + Worker(settings, name="next").run(once=True).delivered == 12
