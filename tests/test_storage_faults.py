"""Storage faults: a full disk and a read-only database file, for real.

The database lives on a small tmpfs mounted for the test (root only: tests run as root here;
elsewhere these tests skip, saying why). "Disk full" is that filesystem filled to ENOSPC;
"read-only" is ``mount -o remount,ro`` under the open connections — ``chmod`` would not do,
root ignores file modes. Expected: intake answers 503 with Retry-After (Shopify retries),
``/readyz`` answers 503, nothing half-stored, and when the fault clears both recover by
themselves, on the same connections, without a restart. The worker, hit by the fault in the
middle of a delivery, loses nothing: the event stays queued and leased, and after the lease
another worker delivers it.
"""

from __future__ import annotations

import errno
import os
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from connector.config import Settings
from connector.store.checkpoints import stop_checkpointers
from connector.store.db import close_shared_dbs, close_thread_dbs, connect
from connector.store.journal import close_journals
from connector.worker.loop import Worker
from tests.support import (
    DOCS_ORDER,
    ORDER_ID,
    SHOP,
    fixture_bytes,
    order_body,
    post_webhook,
    webhook_headers,
    with_values,
)

ORDER_PATH = f"/orders/{SHOP}/{ORDER_ID}"


def _mount(cmd: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=30)


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Path]:
    """A 16 MiB tmpfs of our own."""
    mountpoint = tmp_path / "fs"
    mountpoint.mkdir()
    if os.geteuid() != 0:
        pytest.skip("needs root to mount a small tmpfs (disk full / read-only filesystem)")
    result = _mount(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(mountpoint)])
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {result.stderr.strip()}")
    try:
        yield mountpoint
    finally:
        close_thread_dbs()
        close_shared_dbs()
        _mount(["mount", "-o", "remount,rw", str(mountpoint)])
        _mount(["umount", "-l", str(mountpoint)])


@pytest.fixture
def overrides(overrides):  # type: ignore[no-untyped-def]
    """The database's faults met by webhooks stored by their own commits (webhooks.journal =
    false); a journal that cannot be written: tests/test_intake_journal.py."""
    return {**overrides, "webhooks.journal": False}


@pytest.fixture
def db_path(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Overrides conftest's: tests that ask for ``small_fs`` keep the database there."""
    if "small_fs" in request.fixturenames:
        return str(request.getfixturevalue("small_fs") / "connector.db")
    return str(tmp_path / "connector.db")


def fill(directory: Path) -> Path:
    """Write a filler file until the filesystem says ENOSPC."""
    filler = directory / "filler"
    chunk = b"\0" * 65536
    with filler.open("wb", buffering=0) as fh:
        try:
            while True:
                fh.write(chunk)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
    with filler.open("ab", buffering=0) as fh:  # the last bytes too
        try:
            while True:
                fh.write(b"\0" * 512)
        except OSError:
            pass
    return filler


def remount(mountpoint: Path, mode: str) -> None:
    result = _mount(["mount", "-o", f"remount,{mode}", str(mountpoint)])
    assert result.returncode == 0, result.stderr


def events(db_path: str) -> int:
    db = connect(db_path)
    try:
        return db.execute("SELECT count(*) FROM events").fetchone()[0]
    finally:
        db.close()


def post_big(post, n: int):  # type: ignore[no-untyped-def]
    """A signed order with a ~100 KB note: needs new pages, so it cannot hide in free space."""
    return post(order_body(note="x" * 100_000, updated_at=f"2026-11-25T10:{n % 60:02d}:00Z"),
                "orders/updated", webhook_id=f"big-{n}-{uuid.uuid4().hex[:6]}")


def test_full_disk_gives_503_and_not_ready_then_recovers_by_itself(client, post, small_fs, db_path):
    assert post(fixture_bytes(DOCS_ORDER)).status_code == 200
    assert client.get("/readyz").status_code == 200
    stored_before = events(db_path)
    filler = fill(small_fs)

    answers = [post_big(post, n) for n in range(5)]
    assert {a.status_code for a in answers} == {503}, [a.status_code for a in answers]
    assert all(a.headers.get("Retry-After") for a in answers)
    assert "retry" in answers[0].json["error"]
    ready = client.get("/readyz")
    assert ready.status_code == 503 and "database" in ready.json["error"]

    filler.unlink()  # the operator frees space; no restart
    assert post_big(post, 99).status_code == 200
    assert client.get("/readyz").status_code == 200
    assert events(db_path) == stored_before + 1  # nothing half-stored meanwhile


def test_full_disk_under_the_journal_gives_503_and_leaves_no_partial_record(settings, small_fs, db_path, caplog):
    """The intake journal's folder sits beside the database, on the same full disk: the append
    that cannot be written whole is cut back, answered 503, and Shopify's retry is stored once."""
    from connector.app import create_app

    client = create_app(settings=with_values(settings, **{"webhooks.journal": True})).test_client()
    try:
        assert post_webhook(client, "orders/create", fixture_bytes(DOCS_ORDER), triggered_at="now").status_code == 200
        stored_before = events(db_path)
        filler = fill(small_fs)
        big = order_body(note="x" * 100_000, updated_at="2026-11-25T10:00:00Z")
        answers = [client.post("/webhooks/shopify", data=big, headers=webhook_headers(big, "orders/updated", webhook_id="big"))
                   for _ in range(3)]
        assert {a.status_code for a in answers} == {503}, [a.status_code for a in answers]
        assert all(a.headers.get("Retry-After") for a in answers)
        filler.unlink()  # the operator frees space; no restart
        assert post_webhook(client, "orders/updated", big, webhook_id="big").status_code == 200
        assert events(db_path) == stored_before + 1
        assert "not a whole record" not in caplog.text  # each failed append was cut back whole
    finally:
        close_journals()


def test_read_only_database_gives_503_and_not_ready_then_recovers_by_itself(client, post, small_fs, db_path):
    """Linux refuses to remount a filesystem read-only while a file on it is open for writing,
    so the connections are closed first, as after a restart of the web workers; then every new
    connection meets the read-only filesystem."""
    assert post(fixture_bytes(DOCS_ORDER)).status_code == 200
    assert client.get("/readyz").status_code == 200
    close_thread_dbs()
    close_shared_dbs()  # the process's intake connection
    stop_checkpointers()  # the web process's WAL checkpointer holds a connection too
    remount(small_fs, "ro")
    try:
        assert not os.access(small_fs, os.W_OK) or open("/proc/mounts").read().count(f"{small_fs} tmpfs ro")
        answer = post(order_body(note="while read-only"), "orders/updated")
        assert answer.status_code == 503 and answer.headers.get("Retry-After")
        ready = client.get("/readyz")
        assert ready.status_code == 503 and "database" in ready.json["error"]
        assert client.get("/healthz").status_code == 200  # alive, just not ready
    finally:
        remount(small_fs, "rw")
    assert post(order_body(note="after"), "orders/updated").status_code == 200
    assert client.get("/readyz").status_code == 200
    assert events(db_path) == 2


def test_worker_hit_by_a_storage_failure_mid_delivery_loses_nothing(post, settings, db_path, target, db):
    """The target got the order, but recording that fails (here: another connection holds the
    write lock past the worker's busy timeout — a read-only remount is refused while the worker
    has the file open): the event stays queued under the failed delivery's lease, and a worker
    delivers it after the lease (at least once: the target sees the same document twice, an
    idempotent PUT). The worker process itself keeps running."""
    import sqlite3

    assert post(fixture_bytes(DOCS_ORDER)).status_code == 200
    fast = Settings({**settings.values, "worker.lease_s": 2.0, "database.busy_timeout_s": 0.3}, settings.shops, settings.source)
    target.fail_next(1, delay_s=1.0)  # hold the first PUT a moment, then answer it normally
    first = Worker(fast, name="first")
    runner = threading.Thread(target=first.run, daemon=True)
    runner.start()
    locker = sqlite3.connect(db_path, timeout=5, isolation_level=None)
    deadline = time.monotonic() + 10
    while not target.requests and time.monotonic() < deadline:
        time.sleep(0.01)
    assert target.requests, "the worker never reached the target"
    locker.execute("BEGIN IMMEDIATE")  # while the PUT is in flight
    try:
        deadline = time.monotonic() + 10
        while target.writes[ORDER_PATH] == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(1.0)  # recording the delivery (and rescheduling it) fails: database is locked
        assert runner.is_alive()
        stopping = time.monotonic()
        first.stop()
        runner.join(15)
        # A stop does not wait out the store's failure: the lease hands the order on.
        assert not runner.is_alive(), "the worker kept retrying its record after it was told to stop"
        assert time.monotonic() - stopping < 3.0
    finally:
        locker.execute("ROLLBACK")
        locker.close()
    state = db.execute("SELECT state FROM events").fetchone()[0]
    lease_owner, status = db.execute("SELECT lease_owner, status FROM orders").fetchone()
    assert (state, lease_owner, status) == ("queued", "first", "pending")
    assert target.writes[ORDER_PATH] == 1

    second = Worker(fast, name="second")
    runner = threading.Thread(target=second.run, daemon=True)
    runner.start()
    try:
        deadline = time.monotonic() + 15
        while db.execute("SELECT state FROM events").fetchone()[0] != "delivered" and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        second.stop()
        runner.join(15)
    assert db.execute("SELECT state FROM events").fetchone()[0] == "delivered"
    assert db.execute("SELECT status, lease_owner FROM orders").fetchone() == ("synced", None)
    assert target.writes[ORDER_PATH] == 2 and target.documents[ORDER_PATH]["order_id"] == int(ORDER_ID)
    db.close()
