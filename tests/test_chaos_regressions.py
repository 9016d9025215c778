"""Bugs the chaos run (bench/chaos.py) found in the core, kept as small deterministic tests."""

from __future__ import annotations

import sqlite3
import threading
import time

from connector.config import Settings
from connector.db import connect
from connector.store import events as event_store
from connector.worker import triage
from connector.worker.loop import Worker
from tests.conftest import DOCS_ORDER, ORDER_ID, SHOP, fixture_bytes

ORDER_PATH = f"/orders/{SHOP}/{ORDER_ID}"


def test_an_event_triaged_by_another_worker_meanwhile_is_not_triaged_again(post, run_worker, db_path, target, monkeypatch):
    """Chaos found an event stuck in ``queued`` forever although its delivery was recorded.

    Cause: ``triage_new_events`` read the ``new`` rows before taking the write lock; a second
    worker process holding the same stale rows re-triaged an event the first worker had already
    triaged *and delivered*, setting it back to ``queued`` — and nothing would ever settle it.
    """
    post(fixture_bytes(DOCS_ORDER))
    db = connect(db_path)
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
