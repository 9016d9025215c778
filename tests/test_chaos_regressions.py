"""Bugs the chaos run (bench/chaos.py) found in the core, kept as small deterministic tests."""

from __future__ import annotations

import sqlite3
import threading
import time

from connector.config import Settings
from connector.store import events as event_store
from connector.worker import triage
from connector.worker.loop import Worker
from tests.support import DOCS_ORDER, ORDER_ID, SHOP, fixture_bytes, query, scalar

ORDER_PATH = f"/orders/{SHOP}/{ORDER_ID}"


def test_an_event_triaged_by_another_worker_meanwhile_is_not_triaged_again(post, run_worker, db_path, target, monkeypatch, db):
    """Chaos found an event stuck in ``queued`` forever although its delivery was recorded.

    Cause: ``triage_new_events`` read the ``new`` rows before taking the write lock; a second
    worker process holding the same stale rows re-triaged an event the first worker had already
    triaged *and delivered*, setting it back to ``queued`` — and nothing would ever settle it.
    """
    post(fixture_bytes(DOCS_ORDER))
    stale_rows = event_store.fetch_new_events(db, 10)  # worker B reads the new rows ...
    assert run_worker().delivered == 1  # ... worker A triages and delivers them meanwhile
    monkeypatch.setattr(triage.event_store, "fetch_new_events", lambda _db, _n: stale_rows)
    triage.triage_new_events(db, 10)  # ... then B takes the lock with its stale rows
    assert [r["state"] for r in db.query("SELECT state FROM events")] == ["delivered"]
    assert db.execute("SELECT has_work FROM orders").fetchone()[0] == 0
    assert target.writes[ORDER_PATH] == 1


def test_worker_survives_a_database_locked_past_its_busy_timeout(post, settings, db_path, target):
    """Chaos found worker processes exiting with "database is locked" (a traceback out of run()).

    Cause: triage/claim/prune in the worker loop were not guarded; a lock held longer than
    ``database.busy_timeout_s`` (a backup, a long admin query, another process) ended the worker.
    Now the pass is retried after a short wait, and nothing is lost.
    """
    worker_settings = Settings({**settings.values, "database.busy_timeout_s": 0.2, "worker.poll_interval_s": 0.05},
                               settings.shops, settings.source)
    worker = Worker(worker_settings)
    locker = sqlite3.connect(db_path, timeout=5, isolation_level=None)
    locker.execute("BEGIN IMMEDIATE")
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    try:
        time.sleep(1.0)  # several passes fail with "database is locked"
        assert thread.is_alive()
        locker.execute("ROLLBACK")
        post(fixture_bytes(DOCS_ORDER))
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and target.writes[ORDER_PATH] == 0:
            time.sleep(0.05)
    finally:
        worker.stop()
        thread.join(10)
        locker.close()
    assert worker.stats.storage_errors >= 1
    assert target.writes[ORDER_PATH] == 1


def test_an_orders_delete_event_is_settled_once_the_delete_is_delivered(post, run_worker, target, db_path):
    """Fuzzing the intake found ``orders/delete`` events left ``queued`` forever.

    Cause: the delivery recorded ``delete_delivered`` on the order but never settled the delete
    event itself (only snapshot and part deliveries settled events), so "no event left queued"
    failed for every deleted order. Now the delete step settles the order's queued events.
    """
    import json

    post(fixture_bytes(DOCS_ORDER))
    run_worker()
    post(json.dumps({"id": int(ORDER_ID)}).encode(), "orders/delete")
    run_worker()
    assert ORDER_PATH in target.deleted
    states = [r["state"] for r in query(db_path, "SELECT state FROM events ORDER BY id")]
    assert states == ["delivered", "delivered"]


def test_amounts_beyond_the_decimal_context_are_left_out_not_a_crash():
    """Fuzzing found ``format_amount("1e999999")`` raising decimal.InvalidOperation (quantize
    past the context precision), which crashed the mapping of an otherwise fine order."""
    from connector.targets.common import format_amount

    assert format_amount("1e999999") is None
    assert format_amount("123456789012345678901234567890") is None
    assert format_amount("359.97") == "359.97"


def test_a_crashing_mapping_dead_letters_with_its_reason_instead_of_retrying_for_days(post, run_worker, db_path, monkeypatch):
    """The mapping is pure and deterministic: an unexpected exception there recurs on every retry.

    Before, it was classed as transient (``internal error``) and retried until
    ``retry.give_up_after_s`` (3 days); now it is a permanent failure with the reason kept.
    """
    from connector.targets import http as http_target

    def broken(self, order, ctx):  # type: ignore[no-untyped-def]
        raise ZeroDivisionError("boom")

    monkeypatch.setattr(http_target.HttpJsonTarget, "map_order", broken)
    post(fixture_bytes(DOCS_ORDER))
    assert run_worker().dead == 1
    row = tuple(query(db_path, "SELECT status, last_error FROM orders")[0].values())
    assert row[0] == "dead" and "ZeroDivisionError: boom" in row[1]
    assert scalar(db_path, "SELECT state FROM events") == "dead"


def test_prune_interval_makes_the_worker_prune_while_it_runs(post, settings, db_path, target):
    """``database.prune_interval_s`` (new, for the soak): a running worker prunes on that period,
    so with a short retention the events table stops growing; the newest body of an order stays."""
    from tests.support import order_body

    fast = Settings({**settings.values, "database.retention_days": 0.5 / 86400, "database.prune_interval_s": 0.2},
                    settings.shops, settings.source)
    for minute in range(1, 6):
        post(order_body(updated_at=f"2026-11-25T10:0{minute}:00Z", note=str(minute)), "orders/updated")
    worker = Worker(fast)
    runner = threading.Thread(target=worker.run, daemon=True)
    runner.start()
    try:
        deadline = time.monotonic() + 10
        while scalar(db_path, "SELECT count(*) FROM events") > 1 and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        worker.stop()
        runner.join(10)
    rows = [tuple(r.values()) for r in query(db_path, "SELECT state FROM events")]
    assert rows == [("delivered",)]  # only the newest state's event is kept


def test_worker_stats_keep_only_recent_outcomes():
    """The soak (bench/soak.py) saw a long-running worker's RSS climb steadily: WorkerStats kept
    every DeliveryOutcome of the process's life in a list. Counters stay exact; the list is bounded."""
    from connector.worker.deliver import DeliveryOutcome
    from connector.worker.loop import RECENT_OUTCOMES, WorkerStats

    stats = WorkerStats()
    for n in range(RECENT_OUTCOMES * 3):
        stats.add(DeliveryOutcome(SHOP, str(n), "delivered", 1))
    assert stats.delivered == RECENT_OUTCOMES * 3
    assert len(stats.outcomes) == RECENT_OUTCOMES and stats.outcomes[-1].order_id == str(RECENT_OUTCOMES * 3 - 1)
