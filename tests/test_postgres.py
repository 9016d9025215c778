"""What only several processes (hosts) on one PostgreSQL store do: claims, triage, fencing,
migrations, wake-ups and server faults, against the real server the session starts.

Each "host" is a process of its own with its own connections (``multiprocessing`` spawn), so
nothing is shared but the database, as between machines.
"""

from __future__ import annotations

import multiprocessing
import random
import threading
import time
from typing import Any

import pytest

from connector.store import events as event_store
from connector.store import orders as order_store
from connector.store.db import STORE_ERRORS, close_shared_dbs, connect, get_db, write_transaction
from connector.store.events import NewEvent
from connector.store.holds import DeliveryScope
from connector.store.migrations import known_migrations, migrate
from connector.store.shops import add_shop
from connector.timeutil import now_db
from tests.support import SHOP, fast_settings, order_body, query

pytestmark = pytest.mark.postgres_only
SPAWN = multiprocessing.get_context("spawn")
ALL_SHOPS = DeliveryScope(all_shops=True)  # the global account serves every shop


@pytest.fixture
def overrides(db_path, target):  # type: ignore[no-untyped-def]
    """While the server is down, a request waits this long for a connection before its 503."""
    return {**fast_settings(db_path, kind="http", base_url=target.url), "database.busy_timeout_s": 2}


def _run_processes(target: Any, args_list: list[tuple[Any, ...]], timeout_s: float = 120) -> list[Any]:
    """Start one process per args, each reporting one result through a queue; all must finish."""
    results = SPAWN.Queue()
    procs = [SPAWN.Process(target=target, args=(results, *args)) for args in args_list]
    for proc in procs:
        proc.start()
    out = [results.get(timeout=timeout_s) for _ in procs]
    for proc in procs:
        proc.join(30)
        assert proc.exitcode == 0, f"{proc.name} exited with {proc.exitcode}"
    return out


# -- several processes claim the same due orders -----------------------------------------------
def _claimer(results: Any, url: str, name: str, start_at: float) -> None:
    db = connect(url)
    time.sleep(max(0.0, start_at - time.time()))
    claimed: list[tuple[str, str]] = []
    while True:
        with write_transaction(db):
            batch = order_store.claim_due_orders(db, name, 7, lease_s=600, scope=ALL_SHOPS)
        if not batch:
            break
        claimed += batch
    results.put((name, claimed))


def _due_orders(db: Any, count: int) -> None:
    now = now_db()
    with write_transaction(db):
        for n in range(count):
            db.execute(
                "INSERT INTO orders (shop, order_id, next_attempt_at, created_at, newest_event_id) VALUES (?, ?, ?, ?, 1)",
                [SHOP, str(10_000 + n), now, now],
            )


def test_processes_claiming_the_same_due_orders_never_claim_one_twice(db_path):
    db = connect(db_path)
    add_shop(db, SHOP, "config")
    _due_orders(db, 600)
    start_at = time.time() + 2  # all four begin together, after their imports
    claims = _run_processes(_claimer, [(db_path, f"host{n}", start_at) for n in range(4)])
    every = [key for _, batch in claims for key in batch]
    assert len(every) == 600 and len(set(every)) == 600  # each order claimed, none twice
    assert sum(1 for _, batch in claims if batch) >= 2  # they really competed
    owners = dict(db.execute("SELECT order_id, lease_owner FROM orders").fetchall())
    for name, batch in claims:
        assert all(owners[order_id] == name for _, order_id in batch)


def _due_order_rows(db: Any, shop: str, first: int, count: int) -> None:
    now = now_db()
    with write_transaction(db):
        for n in range(first, first + count):
            db.execute(
                "INSERT INTO orders (shop, order_id, next_attempt_at, created_at, newest_event_id) VALUES (?, ?, ?, ?, 1)",
                [shop, str(n), now, now],
            )


def test_a_claim_never_waits_for_order_rows_another_transaction_holds(db_path):
    other = "no-account.myshopify.com"  # installed, but without a tracking account: undeliverable
    db = connect(db_path)
    add_shop(db, SHOP, "config")
    add_shop(db, other, "config")
    _due_order_rows(db, SHOP, 100, 5)
    _due_order_rows(db, other, 200, 5)
    scope = DeliveryScope(assigned=frozenset({SHOP}))  # only SHOP's account is assigned
    holder, quick = connect(db_path), connect(db_path, busy_timeout_s=1)  # a wait would fail after 1 s
    with write_transaction(holder):
        # Another claim parking the same rows, or a triage folding events into them, holds them.
        holder.execute("SELECT 1 FROM orders WHERE shop = ? FOR UPDATE", [other]).fetchall()
        started = time.monotonic()
        with write_transaction(quick):
            claimed = order_store.claim_due_orders(quick, "w1", 50, lease_s=60, scope=scope)
        waited = time.monotonic() - started
    assert sorted(claimed) == [(SHOP, str(n)) for n in range(100, 105)] and waited < 0.9
    with write_transaction(quick):  # the next claim parks what the first had to skip
        assert order_store.claim_due_orders(quick, "w1", 50, lease_s=60, scope=scope) == []
    held = dict(db.execute("SELECT order_id, status FROM orders WHERE shop = ?", [other]).fetchall())
    assert set(held.values()) == {"held"}


# -- two triagers, interleaved events of one order -----------------------------------------------
def _triager(results: Any, url: str, start_at: float) -> None:
    from connector.worker.triage import triage_new_events

    db = connect(url)
    time.sleep(max(0.0, start_at - time.time()))
    routed = 0
    idle_since = time.monotonic()
    while time.monotonic() - idle_since < 1.0:  # until nothing new for a second
        done = triage_new_events(db, batch_size=3)
        routed += done
        if done:
            idle_since = time.monotonic()
    results.put(routed)


def test_two_triagers_on_interleaved_events_of_one_order_keep_the_newest_state(db_path):
    db = connect(db_path)
    add_shop(db, SHOP, "config")
    minutes = list(range(120))
    random.Random(15).shuffle(minutes)  # the states arrive out of order
    for n, minute in enumerate(minutes):
        body = order_body(updated_at=f"2026-11-25T10:{minute // 60:02d}:{minute % 60:02d}Z", note=str(minute))
        event_store.save_event(db, NewEvent(SHOP, "orders/updated", f"w{n}", body))
    start_at = time.time() + 2
    routed = _run_processes(_triager, [(db_path, start_at), (db_path, start_at)])
    assert sum(routed) >= 120 and all(routed)  # both triaged, and every event was routed
    states = dict(db.execute("SELECT state, count(*) FROM events GROUP BY state").fetchall())
    assert "new" not in states and sum(states.values()) == 120
    order = db.query_rows("SELECT newest_updated_at, newest_event_id FROM orders")[0]
    assert order["newest_updated_at"].startswith("2026-11-25T10:01:59")  # the newest state won
    newest_body = event_store.fetch_event_body(db, order["newest_event_id"])
    assert b'"note": "119"' in newest_body
    # Every event older than what was queued when it arrived was superseded, never queued after it.
    queued = [r[0] for r in db.execute("SELECT resource_updated_at FROM events WHERE state = 'queued' ORDER BY id")]
    assert queued == sorted(queued)


def test_a_worker_finding_another_triaging_goes_on_and_that_triage_wakes_the_idle_workers(db_path):
    """A running worker's triage pass (``wait=False``) that finds another host triaging leaves at
    once, its events untouched (they are the other's, routed by it alone); a triage that queued
    work notifies the listening workers, so idle ones on other hosts claim it without a poll."""
    from connector.worker.triage import triage_new_events

    db, other = connect(db_path), connect(db_path)
    add_shop(db, SHOP, "config")
    for n in range(3):
        event_store.save_event(db, NewEvent(SHOP, "orders/updated", f"w{n}", order_body(note=str(n))))
    listener, stop = db.listener(), threading.Event()
    try:
        assert not listener.wait(0.05, stop)  # subscribed (the inserts came before: no notice)
        with write_transaction(other):
            other.dialect.serialize(other, event_store.TRIAGE_LOCK)  # another host is triaging
            started = time.monotonic()
            assert triage_new_events(db, 10, wait=False) == 0
            assert time.monotonic() - started < 1.0
        assert db.execute("SELECT DISTINCT state FROM events").fetchall() == [("new",)]
        assert not listener.wait(0.05, stop)
        assert triage_new_events(db, 10, wait=False) == 3
        assert "new" not in {row[0] for row in db.execute("SELECT state FROM events").fetchall()}
        assert listener.wait(5.0, stop)  # the queued order's notice
    finally:
        listener.close()
        db.close()
        other.close()


# -- fencing across hosts ----------------------------------------------------------------------------
def test_an_expired_lease_taken_over_refuses_the_stalled_owners_finish(db_path):
    stalled, new_owner = connect(db_path), connect(db_path)  # two hosts, two connections
    add_shop(stalled, SHOP, "config")
    _due_orders(stalled, 1)
    key = (SHOP, "10000")
    with write_transaction(stalled):
        assert order_store.claim_due_orders(stalled, "stalled-host", 1, lease_s=0.2, scope=ALL_SHOPS) == [key]
    time.sleep(0.3)
    with write_transaction(new_owner):
        assert order_store.claim_due_orders(new_owner, "new-host", 1, lease_s=60, scope=ALL_SHOPS) == [key]
    with pytest.raises(order_store.LeaseLostError):
        with write_transaction(stalled):
            order_store.hold_lease(stalled, *key, "stalled-host")
            order_store.finish_success(stalled, *key)  # never reached
    with write_transaction(new_owner):
        order_store.hold_lease(new_owner, *key, "new-host")
        order_store.finish_success(new_owner, *key)
    assert new_owner.execute("SELECT lease_owner FROM orders").fetchone() == (None,)  # the new owner's finish


def test_while_an_owner_records_its_result_nobody_can_take_the_order_over(db_path):
    owner, other = connect(db_path), connect(db_path)
    add_shop(owner, SHOP, "config")
    _due_orders(owner, 1)
    with write_transaction(owner):
        order_store.claim_due_orders(owner, "owner", 1, lease_s=0.1, scope=ALL_SHOPS)
    time.sleep(0.2)  # the lease lapsed, but the owner is recording right now
    with write_transaction(owner):
        order_store.hold_lease(owner, SHOP, "10000", "owner")
        with write_transaction(other):  # the row is locked: the claim skips it, never waits
            started = time.monotonic()
            assert order_store.claim_due_orders(other, "other", 1, lease_s=60, scope=ALL_SHOPS) == []
            assert time.monotonic() - started < 1.0
        order_store.record_delete_delivered(owner, SHOP, "10000")
        order_store.finish_success(owner, SHOP, "10000")
    assert owner.execute("SELECT lease_owner FROM orders").fetchone() == (None,)


# -- migrations from four processes at once ---------------------------------------------------------
def test_an_install_during_a_triage_batch_still_releases_the_events_that_batch_holds(db_path):
    from connector.lifecycle.install import release_held

    shop = "new-install.myshopify.com"
    db = connect(db_path)
    event_id, _ = event_store.save_event(db, NewEvent(shop, "orders/create", "w1", order_body()))
    triager = connect(db_path)
    released: list[int] = []
    with write_transaction(triager):  # a batch that read the shops before the install committed
        triager.dialect.serialize(triager, event_store.TRIAGE_LOCK)
        event_store.set_event_state(triager, event_id, "held", "shop is not installed or configured")
        add_shop(db, shop, "oauth")  # the install stores the shop, then releases what was held
        installer = threading.Thread(target=lambda: released.append(release_held(connect(db_path), shop)))
        installer.start()
        installer.join(0.5)
        assert installer.is_alive()  # waits for the batch, which would otherwise hold the event after it
    installer.join(10)
    assert released == [1]
    assert db.execute("SELECT state FROM events WHERE id = ?", [event_id]).fetchone()[0] == "new"


def _migrator(results: Any, url: str, start_at: float) -> None:
    db = connect(url)
    time.sleep(max(0.0, start_at - time.time()))
    migrate(db)
    results.put("ok")


def test_migrations_from_four_processes_at_once_apply_each_step_once(pg_server):
    url = pg_server.new_database(migrated=False)
    start_at = time.time() + 2
    assert _run_processes(_migrator, [(url, start_at)] * 4) == ["ok"] * 4
    db = connect(url)
    names = [r[0] for r in db.execute("SELECT name FROM connector_migrations ORDER BY id")]
    assert names == known_migrations()
    assert db.execute("SELECT count(*) FROM events").fetchone() == (0,)


# -- wake-ups ------------------------------------------------------------------------------------------
def test_an_idle_worker_wakes_on_a_new_event_long_before_its_poll(settings, post, target):
    from connector.config import Settings
    from connector.worker.loop import Worker

    slow_poll = Settings({**settings.values, "worker.poll_interval_s": 30.0}, settings.shops)
    worker = Worker(slow_poll)
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    try:
        time.sleep(1.5)  # started, triaged nothing, now waiting on LISTEN
        posted = time.monotonic()
        assert post(order_body()).status_code == 200
        while not target.orders() and time.monotonic() - posted < 10:
            time.sleep(0.02)
        assert target.orders(), "not delivered"
        assert time.monotonic() - posted < 5  # woken by NOTIFY, not by the 30 s poll
        time.sleep(0.5)  # idle again, listening
        asked = time.monotonic()
        worker.stop()
        thread.join(10)
        assert not thread.is_alive() and time.monotonic() - asked < 3  # a stop does not wait out the poll
    finally:
        worker.stop()
        thread.join(35)


# -- server faults ---------------------------------------------------------------------------------------
def test_a_connection_cut_mid_transaction_loses_nothing_and_the_next_unit_of_work_goes_through(db_path):
    db = get_db(db_path, busy_timeout_s=5)
    admin = connect(db_path)
    event = NewEvent(SHOP, "orders/create", "cut-1", order_body())
    with pytest.raises(STORE_ERRORS):
        with write_transaction(db):
            event_store.save_event(db, event)
            pid = db.execute("SELECT pg_backend_pid()").fetchone()[0]
            admin.execute("SELECT pg_terminate_backend(?)", [pid])
            event_store.save_event(db, NewEvent(SHOP, "orders/create", "cut-2", order_body()))
    assert admin.execute("SELECT count(*) FROM events").fetchone() == (0,)  # all or nothing
    with write_transaction(db):  # the pool hands out a working connection again
        _, duplicate = event_store.save_event(db, event)
    assert not duplicate
    assert [r[0] for r in admin.execute("SELECT dedupe_key FROM events")] == ["cut-1"]
    close_shared_dbs()


def test_a_restarting_server_gets_503s_then_recovers_by_itself(settings, post, client, target, pg_server, db_path):
    from connector.worker.loop import Worker

    if pg_server.datadir is None:
        pytest.skip("CONNECTOR_TEST_PG_URL names a server this test cannot restart")
    assert post(order_body(updated_at="2026-11-25T10:00:00Z")).status_code == 200
    worker = Worker(settings)
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while worker.stats.delivered < 1 and time.monotonic() < deadline:
            time.sleep(0.05)  # the worker is in its loop (not still starting) when the server goes
        assert worker.stats.delivered == 1
        pg_server.stop_server()
        answers = [post(order_body(updated_at=f"2026-11-25T11:00:0{n}Z")) for n in range(3)]
        assert {a.status_code for a in answers} == {503} and all(a.headers["Retry-After"] for a in answers)
        assert client.get("/readyz").status_code == 503
        time.sleep(3.0)  # the worker meets the outage too, and pauses; the pools back off
        pg_server.start_server()
        back = time.monotonic()
        deadline = back + 30
        while client.get("/readyz").status_code != 200 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert time.monotonic() - back < 5  # reconnected within moments, not after a long backoff
        assert client.get("/readyz").status_code == 200
        assert post(order_body(updated_at="2026-11-25T12:00:00Z")).status_code == 200  # Shopify's retry
        while time.monotonic() < deadline:
            row = query(db_path, "SELECT status, delivered_updated_at FROM orders")
            if row and row[0]["status"] == "synced" and row[0]["delivered_updated_at"].startswith("2026-11-25T12"):
                break
            time.sleep(0.2)
        assert row[0]["delivered_updated_at"].startswith("2026-11-25T12:00:00")  # the newest, delivered
        assert thread.is_alive() and worker.stats.storage_errors >= 1  # it paused, and resumed
        assert len(target.orders()) == 1  # one order at the target, in its newest state
    finally:
        worker.stop()
        thread.join(30)
