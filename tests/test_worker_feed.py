"""Keeping the delivery threads busy: threads that go from one leased order to the next by
themselves, triage passes that stay short while deliveries run, and worker passes that take no
write lock when there is nothing to write (SQLite)."""

from __future__ import annotations

import sqlite3
import threading
import time

from connector.store import checkpoints
from connector.store.db import connect
from connector.store.privacy import claim_redaction
from connector.timeutil import db_time_in
from connector.worker.loop import Worker
from connector.worker.slots import DeliverySlots
from connector.worker.triage import triage_new_events
from tests.support import order_body, query


def finish_all(slots: DeliverySlots, count: int, timeout_s: float = 10.0) -> list:
    done: list = []
    deadline = time.monotonic() + timeout_s
    while len(done) < count and time.monotonic() < deadline:
        slots.wait(0.5)
        done += slots.collect()
    return done


def test_a_delivery_thread_takes_the_next_leased_order_itself_in_the_order_offered() -> None:
    delivered: list[tuple[str, int]] = []

    def deliver(key: str) -> str:
        delivered.append((key, threading.get_ident()))
        return f"delivered {key}"

    slots: DeliverySlots[str, str] = DeliverySlots(1, deliver, threading.Event())
    try:
        slots.offer(["a", "b", "c"])  # nobody hands out b and c: the thread that did a goes on
        done = finish_all(slots, 3)
        assert [d.outcome for d in done] == ["delivered a", "delivered b", "delivered c"]
        assert [key for key, _ in delivered] == ["a", "b", "c"]
        assert len({thread for _, thread in delivered}) == 1
        assert not slots.active() and slots.counts() == (1, 0)
    finally:
        slots.close()


def test_after_a_stop_no_order_starts_and_the_waiting_ones_are_given_back() -> None:
    stop, started, release = threading.Event(), threading.Event(), threading.Event()
    delivered: list[str] = []

    def deliver(key: str) -> str:
        started.set()
        release.wait(5)
        delivered.append(key)
        return key

    slots: DeliverySlots[str, str] = DeliverySlots(1, deliver, stop)
    slots.offer(["a", "b", "c"])
    assert started.wait(5)
    assert slots.busy() == {"a", "b", "c"} and slots.counts() == (0, 2)
    stop.set()
    release.set()
    slots.close()  # waits for a, the delivery under way
    assert delivered == ["a"]
    assert slots.take_back() == ["b", "c"]
    assert [d.key for d in slots.collect()] == ["a"]


def test_a_delivery_that_raises_is_reported_and_the_thread_goes_on() -> None:
    def deliver(key: str) -> str:
        if key == "b":
            raise sqlite3.OperationalError("database is locked")
        return key

    slots: DeliverySlots[str, str] = DeliverySlots(2, deliver, threading.Event())
    try:
        slots.offer(["a", "b", "c", "d"])
        done = {d.key: d for d in finish_all(slots, 4)}
        assert sorted(done) == ["a", "b", "c", "d"]
        assert done["b"].outcome is None and isinstance(done["b"].error, sqlite3.OperationalError)
        assert all(done[key].outcome == key for key in "acd")
    finally:
        slots.close()


def test_the_loop_is_woken_when_few_orders_are_left_waiting_not_by_every_delivery() -> None:
    """A pass of the loop per finished delivery was a fifth of the worker's CPU per order."""
    gates = {key: threading.Event() for key in "abcd"}
    finished: list[str] = []

    def deliver(key: str) -> str:
        gates[key].wait(5)
        finished.append(key)
        return key

    def finish(key: str) -> None:
        gates[key].set()
        deadline = time.monotonic() + 5
        while key not in finished and time.monotonic() < deadline:
            time.sleep(0.005)
        assert key in finished

    slots: DeliverySlots[str, str] = DeliverySlots(1, deliver, threading.Event(), refill_below=2)
    try:
        slots.offer(["a", "b", "c", "d"])
        finish("a")  # c and d still wait behind b: nothing for the loop to do
        finish("b")
        started = time.monotonic()
        slots.wait(0.3)
        assert time.monotonic() - started >= 0.29
        finish("c")  # only d waits now: time to lease more
        started = time.monotonic()
        slots.wait(5)
        assert time.monotonic() - started < 1
        threading.Timer(0.05, slots.wake).start()  # a stop wakes the loop at once too
        started = time.monotonic()
        slots.wait(5)
        assert time.monotonic() - started < 1
        finish("d")
        assert [d.key for d in slots.collect()] == ["a", "b", "c", "d"]
    finally:
        for gate in gates.values():
            gate.set()
        slots.close()


def test_a_triage_pass_with_a_budget_routes_at_least_one_event_and_leaves_the_rest_new(post, db, db_path) -> None:
    for n in range(5):
        assert post(order_body(id=7000 + n), "orders/updated").status_code == 200
    assert triage_new_events(db, 10, budget_s=0.0) == 1  # past its budget at once: one, not none
    states = [row["state"] for row in query(db_path, "SELECT state FROM events ORDER BY id")]
    assert states == ["queued", "new", "new", "new", "new"]
    assert triage_new_events(db, 10) == 4


def test_asking_for_a_redaction_when_there_is_none_takes_no_write_lock(db, db_path) -> None:
    holder, asker = connect(db_path), connect(db_path, busy_timeout_s=0.05)
    try:
        holder.execute("BEGIN IMMEDIATE")  # another writer (a delivery's group commit) holds the lock
        started = time.monotonic()
        assert claim_redaction(asker, "worker-1", db_time_in(30)) is None
        assert time.monotonic() - started < 0.05  # answered from a read, not after a busy wait
        holder.execute("ROLLBACK")
    finally:
        asker.close()
        holder.close()


def test_the_workers_commits_leave_wal_checkpoints_to_a_thread(post, settings, db_path) -> None:
    """Inline, the commit that fills the WAL copies it back and fsyncs while the other delivery
    threads queue behind it (group commit)."""
    assert post(order_body(id=7100), "orders/updated").status_code == 200
    worker = Worker(settings, name="checkpoints")
    try:
        assert worker.run(once=True).delivered == 1
        assert worker._db().execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 0
        assert any(thread.name == "wal-checkpoints" for thread in threading.enumerate())
    finally:
        checkpoints.stop_checkpointers()


def test_a_running_worker_counts_every_delivery_it_made(post, settings, target) -> None:
    """The outcomes come back from the delivery threads; a delivery that ended while the loop
    had nothing else in flight must be counted too, not only at the end of the run."""
    worker = Worker(settings, name="counting")
    runner = threading.Thread(target=worker.run, daemon=True)
    runner.start()
    try:
        for n in range(20):
            assert post(order_body(id=7200 + n), "orders/updated").status_code == 200
        deadline = time.monotonic() + 10
        while len(target.requests) < 20 and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(settings["worker.poll_interval_s"] * 5)  # a few passes of the idle loop
        assert len(target.requests) == 20 and worker.stats.delivered == 20
    finally:
        worker.stop()
        runner.join(10)
        checkpoints.stop_checkpointers()
