"""WAL checkpoints of the web process: never inside a webhook's commit, and the WAL stays bounded."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator

import pytest

from connector.store import checkpoints
from connector.store.db import Db, connect
from tests.conftest import DOCS_ORDER, fixture_bytes, webhook_headers
from tests.support import scalar


@pytest.fixture
def overrides(overrides):  # type: ignore[no-untyped-def]
    """The web process's own commits and their WAL (webhooks.journal = false): with the journal
    on, the worker writes what webhooks bring, and its checkpointer copies the WAL back."""
    return {**overrides, "webhooks.journal": False}


def checkpointers() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "wal-checkpoints"]


def wal_frames(db_path: str) -> tuple[int, int]:
    """(frames in the WAL, frames already copied back), without copying anything."""
    conn = connect(db_path).conn
    try:
        # A PASSIVE checkpoint with nothing left to copy changes nothing: it only reports.
        return tuple(conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()[1:])  # type: ignore[return-value]
    finally:
        conn.close()


def test_webhook_connections_never_checkpoint_and_the_thread_copies_the_wal_back(client, db_path, monkeypatch):
    monkeypatch.setattr(checkpoints, "CHECKPOINT_EVERY_S", 0.05)
    monkeypatch.setattr(checkpoints, "IDLE_PASSES", 10)
    body = fixture_bytes(DOCS_ORDER)
    size_before = os.path.getsize(db_path)
    for n in range(300):  # ~1,500 WAL pages: past SQLite's 1,000-page autocheckpoint
        assert client.post("/webhooks/shopify", data=body, headers=webhook_headers(body, webhook_id=f"c{n}")).status_code == 200
    from connector.web.dbconn import request_db

    with client.application.app_context():
        assert request_db().execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 0
    assert checkpointers()
    deadline = time.monotonic() + 5
    while os.path.getsize(db_path) < size_before + 300 * len(body) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert os.path.getsize(db_path) >= size_before + 300 * len(body)  # the rows reached the database file
    deadline = time.monotonic() + 5
    while checkpointers() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not checkpointers()  # idle: the thread is gone; the next webhook starts one again
    assert client.post("/webhooks/shopify", data=body, headers=webhook_headers(body, webhook_id="again")).status_code == 200
    assert checkpointers()


def test_under_steady_intake_the_wal_starts_over_instead_of_growing(client, db_path, monkeypatch):
    monkeypatch.setattr(checkpoints, "CHECKPOINT_EVERY_S", 0.05)
    monkeypatch.setattr(checkpoints, "CATCH_UP_FRAMES", 300)
    body = fixture_bytes(DOCS_ORDER)
    for n in range(1200):  # ~6,000 pages (24 MB) of WAL if it never started over
        client.post("/webhooks/shopify", data=body, headers=webhook_headers(body, webhook_id=f"s{n}"))
    assert os.path.getsize(db_path + "-wal") < 12 * 1024 * 1024
    assert scalar(db_path, "SELECT count(*) FROM events") == 1200


@pytest.fixture
def wal_with_frames(db_path, monkeypatch) -> Iterator[tuple[Db, Db]]:
    """(writer, checkpointer) on a database whose WAL holds a few frames; every pass catches up."""
    monkeypatch.setattr(checkpoints, "CATCH_UP_FRAMES", 1)
    writer, checkpointer = connect(db_path), connect(db_path)
    try:
        writer.execute("PRAGMA wal_autocheckpoint = 0")
        writer.execute("CREATE TABLE IF NOT EXISTS t (x BLOB)")
        writer.execute("INSERT INTO t VALUES (zeroblob(20000))")
        yield writer, checkpointer
    finally:
        checkpointer.close()
        writer.close()


def test_catching_up_holds_writers_off_while_it_copies(db_path, wal_with_frames):
    writer, checkpointer = wal_with_frames
    conn = checkpointer.conn
    done = threading.Event()
    writer.execute("BEGIN IMMEDIATE")  # a webhook's statement holding the write lock
    try:
        thread = threading.Thread(target=lambda: (checkpoints.checkpoint_once(conn, db_path), done.set()))
        thread.start()
        assert not done.wait(0.5)  # the catch-up pass waits for the write lock
        writer.execute("INSERT INTO t VALUES (zeroblob(20000))")
    finally:
        writer.execute("COMMIT")
    assert done.wait(5)
    frames, copied = wal_frames(db_path)
    assert frames == copied > 0  # everything copied, the last commit's frames too
    writer.execute("INSERT INTO t VALUES (1)")
    assert wal_frames(db_path)[0] < frames  # and the next commit started the WAL over


def test_a_catch_up_that_cannot_get_the_write_lock_gives_up_until_the_next_pass(db_path, wal_with_frames, monkeypatch):
    writer, checkpointer = wal_with_frames
    monkeypatch.setattr(checkpoints, "CATCH_UP_LOCK_WAIT_S", 0.2)
    writer.execute("BEGIN IMMEDIATE")  # a long write transaction elsewhere (the worker's, say)
    try:
        started = time.monotonic()
        frames, copied = checkpoints.checkpoint_once(checkpointer.conn, db_path)
        assert time.monotonic() - started < 2 and frames == copied > 0  # the passive pass still copied
    finally:
        writer.execute("ROLLBACK")
