"""The intake journal: a webhook answered 200 from the journal is filed into the events table,
once, whatever crashed in between (connector/store/journal.py)."""

from __future__ import annotations

import fcntl
import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from connector.config import Settings
from connector.store.db import connect_sqlite
from connector.store.events import NewEvent
from connector.store.journal import (
    ROTATE_AFTER_S,
    IntakeJournal,
    close_journals,
    decode_records,
    encode_record,
    file_journals,
    journal_backlog,
    journal_dir,
)
from connector.timeutil import parse_iso
from tests.support import DOCS_ORDER, SHOP, file_journal, fixture_bytes, query, webhook_headers, with_values

pytestmark = pytest.mark.parametrize("engine", ["sqlite"], indirect=True)  # a SQLite-only feature


@pytest.fixture
def overrides(overrides):  # type: ignore[no-untyped-def]
    return {**overrides, "webhooks.journal": True}


def _event(n: int, body: bytes = b'{"id": 1}') -> NewEvent:
    return NewEvent(shop=SHOP, topic="orders/create", dedupe_key=f"key-{n}", body=body, webhook_id=f"w-{n}")


def _events(db_path: str) -> list[dict]:
    return query(
        db_path,
        "SELECT e.*, b.body AS stored_body FROM events e JOIN event_bodies b ON b.event_id = e.id ORDER BY e.id",
    )


def test_a_journaled_webhook_is_answered_then_filed_with_everything_it_carried(client, db_path):
    body = fixture_bytes(DOCS_ORDER)
    headers = webhook_headers(body, webhook_id="w-1", event_id="e-1")
    response = client.post("/webhooks/shopify", data=body, headers=headers)
    assert response.status_code == 200 and response.json == {"stored": True, "journaled": True}
    assert query(db_path, "SELECT id FROM events") == []  # not in the table yet: in the journal
    assert journal_backlog(db_path).files == 1
    time.sleep(1.2)  # filed later than it came
    filed_at = datetime.now(UTC)
    assert file_journal(db_path) == 1
    [event] = _events(db_path)
    assert bytes(event["stored_body"]) == body  # the raw bytes, as signed
    assert (event["shop"], event["topic"], event["webhook_id"], event["event_id"]) == (
        SHOP,
        "orders/create",
        "w-1",
        "e-1",
    )
    assert event["api_version"] == "2026-10" and event["triggered_at"] == headers["X-Shopify-Triggered-At"]
    assert event["dedupe_key"] == "event:e-1" and event["state"] == "new"
    # received_at is when the webhook came, not when it was filed.
    assert (filed_at - parse_iso(event["received_at"])).total_seconds() > 1
    assert journal_backlog(db_path).files == 0 and list(journal_dir(db_path).iterdir()) == []


def test_a_repeated_delivery_is_filed_once(client, db_path):
    body = fixture_bytes(DOCS_ORDER)
    headers = webhook_headers(body, webhook_id="same")
    for _ in range(3):
        assert client.post("/webhooks/shopify", data=body, headers=headers).status_code == 200
    assert file_journal(db_path) == 3
    assert len(_events(db_path)) == 1


def test_a_forged_webhook_never_reaches_the_journal(client, db_path):
    body = fixture_bytes(DOCS_ORDER)
    headers = webhook_headers(body, secret="wrong-secret")
    assert client.post("/webhooks/shopify", data=body, headers=headers).status_code == 401
    assert not journal_dir(db_path).exists() or list(journal_dir(db_path).iterdir()) == []


def test_the_worker_files_and_delivers_what_the_journal_holds(client, db_path, run_worker, target):
    body = fixture_bytes(DOCS_ORDER)
    assert client.post("/webhooks/shopify", data=body, headers=webhook_headers(body)).status_code == 200
    stats = run_worker()
    assert stats.filed == 1 and stats.delivered == 1
    assert [request.path for request in target.requests if request.method != "GET"]  # it reached the target
    assert journal_backlog(db_path).files == 0


def test_a_file_still_being_written_is_left_alone(db_path, app):
    journal = IntakeJournal(db_path)
    journal.append(_event(1))
    db = connect_sqlite(db_path)
    try:
        assert file_journals(db, db_path) == 0  # its writer holds it: filing would race the next append
        journal.append(_event(2))
        journal.close()
        assert file_journals(db, db_path) == 2
    finally:
        db.close()
    assert [e["dedupe_key"] for e in _events(db_path)] == ["key-1", "key-2"]


def test_a_file_is_closed_for_filing_soon_after_its_first_record(db_path, app):
    journal = IntakeJournal(db_path)
    journal.append(_event(1))
    closes_at = time.monotonic() + ROTATE_AFTER_S  # no further webhook: the timer closes it then
    db = connect_sqlite(db_path)
    try:
        assert file_journals(db, db_path) == 0  # still open
        while file_journals(db, db_path) == 0:  # a loaded machine may run the timer late
            assert time.monotonic() < closes_at + 5, "the file was never closed"
            time.sleep(0.02)
        assert time.monotonic() >= closes_at - 0.02  # and not before
    finally:
        db.close()
    journal.append(_event(2))  # and the next webhook opens a new file
    assert file_journal(db_path) == 1
    journal.close()


def test_a_record_cut_short_by_a_crash_loses_only_itself(db_path, app, caplog):
    records = [encode_record(_event(n, body=b'{"n": %d}' % n), "2026-12-01T10:00:00.000000Z") for n in range(3)]
    directory = journal_dir(db_path)
    directory.mkdir()
    (directory / f"{time.time_ns():020d}-1.jnl").write_bytes(records[0] + records[1] + records[2][:-7])
    assert file_journal(db_path) == 2
    assert [e["dedupe_key"] for e in _events(db_path)] == ["key-0", "key-1"]
    assert "not a whole record" in caplog.text
    assert list(directory.iterdir()) == []


def test_a_damaged_record_is_not_filed(db_path, app):
    good, bad = (encode_record(_event(n), "2026-12-01T10:00:00.000000Z") for n in range(2))
    flipped = bytearray(bad)
    flipped[-3] ^= 0xFF  # a byte of the body changed: its CRC no longer matches
    events, torn = decode_records(good + bytes(flipped))
    assert [e.dedupe_key for e in events] == ["key-0"] and torn == len(bad)


def test_a_store_that_fails_while_filing_keeps_the_file_to_file_again(db_path, app):
    journal = IntakeJournal(db_path)
    for n in range(40):  # more than one INSERT's worth
        journal.append(_event(n))
    journal.close()
    import sqlite3

    blocker = sqlite3.connect(db_path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    db = connect_sqlite(db_path)
    try:
        db.execute("PRAGMA busy_timeout = 0")
        with pytest.raises(sqlite3.OperationalError):
            file_journals(db, db_path)
        assert journal_backlog(db_path).files == 1
        blocker.execute("ROLLBACK")
        assert file_journals(db, db_path) == 40
    finally:
        blocker.close()
        db.close()
    assert len(_events(db_path)) == 40 and journal_backlog(db_path).files == 0


def test_filing_the_same_file_twice_adds_nothing(db_path, app):
    """A filer that died after its INSERTs but before removing the file: the next one files it again."""
    journal = IntakeJournal(db_path)
    journal.append(_event(1))
    journal.close()
    [path] = journal_dir(db_path).iterdir()
    copy = path.with_name(f"{time.time_ns():020d}-2.jnl")
    copy.write_bytes(path.read_bytes())
    assert file_journal(db_path) == 2
    assert len(_events(db_path)) == 1


def test_a_journal_that_cannot_be_written_answers_503_and_keeps_nothing(settings, db_path):
    from connector.app import create_app

    Path(f"{db_path}.intake").write_text("a file where the journal's folder should be")
    client = create_app(settings=with_values(settings, **{"webhooks.journal": True})).test_client()
    body = fixture_bytes(DOCS_ORDER)
    response = client.post("/webhooks/shopify", data=body, headers=webhook_headers(body))
    assert response.status_code == 503 and response.headers["Retry-After"]
    Path(f"{db_path}.intake").unlink()  # fixed: Shopify's retry is stored
    assert client.post("/webhooks/shopify", data=body, headers=webhook_headers(body)).status_code == 200
    assert file_journal(db_path) == 1


def test_an_empty_leftover_from_a_crash_while_opening_is_removed(db_path, app):
    directory = journal_dir(db_path)
    directory.mkdir()
    leftover = directory / f"{time.time_ns():020d}-1.new"
    leftover.write_bytes(b"")
    old = time.time() - 3600
    os.utime(leftover, (old, old))
    file_journal(db_path)
    assert not leftover.exists()


_WRITER = """
import sys, time
from connector.store import journal as journal_module
from connector.store.events import NewEvent
journal_module.ROTATE_AFTER_S = 3600  # killed with its file open, not after its timer closed it
journal = journal_module.IntakeJournal(sys.argv[1])
for n in range(5):
    journal.append(NewEvent(shop="s.myshopify.com", topic="orders/create", dedupe_key=f"k{n}", body=b"{}"))
print("appended", flush=True)
time.sleep(60)
"""


def test_a_web_process_killed_mid_file_leaves_its_webhooks_to_be_filed(db_path, app):
    writer = subprocess.Popen([sys.executable, "-c", _WRITER, db_path], stdout=subprocess.PIPE, text=True)
    try:
        assert writer.stdout is not None and writer.stdout.readline().strip() == "appended"
        [path] = journal_dir(db_path).iterdir()
        with open(path, "rb") as held:  # alive, it holds its file
            with pytest.raises(BlockingIOError):
                fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        writer.send_signal(signal.SIGKILL)
        writer.wait(10)
    finally:
        writer.kill()
        writer.wait()
        if writer.stdout:
            writer.stdout.close()
    assert file_journal(db_path) == 5
    assert sorted(json.loads(json.dumps(e["dedupe_key"])) for e in _events(db_path)) == [f"k{n}" for n in range(5)]


def test_postgres_stores_have_no_journal(settings, tmp_path):
    """Several web hosts share a PostgreSQL store: a journal on one host's disk would be out of the
    others' reach, so each webhook commits there as before."""
    from connector.app import create_app

    unreachable = "postgresql://connector@127.0.0.1:1/connector"  # the app starts all the same (503s)
    on_postgres = Settings({**settings.values, "webhooks.journal": True, "database.url": unreachable}, settings.shops)
    assert create_app(settings=on_postgres).config["INTAKE_JOURNAL"] is False
    assert create_app(settings=with_values(settings, **{"webhooks.journal": True})).config["INTAKE_JOURNAL"] is True


def test_webhooks_waiting_in_the_journal_count_as_pending_for_the_alert(settings, db_path, app):
    """With the worker down, webhooks wait in the journal, not in the events table: the
    oldest-pending gauge (ConnectorOldestPendingEventTooOld) must see them."""
    from connector.metrics import StoreCollector
    from connector.store.db import db_for

    directory = journal_dir(db_path)
    directory.mkdir()
    opened = time.time_ns() - 1200 * 10**9  # 20 minutes ago
    (directory / f"{opened:020d}-1.jnl").write_bytes(encode_record(_event(1), "2026-12-01T10:00:00.000000Z"))
    gauges = {m.name: m.samples[0].value for m in StoreCollector(lambda: db_for(settings)).collect() if len(m.samples) == 1}
    assert gauges["connector_oldest_pending_event_age_seconds"] >= 1200
    assert gauges["connector_intake_journal_files"] == 1
    assert file_journal(db_path) == 1
    gauges = {m.name: m.samples[0].value for m in StoreCollector(lambda: db_for(settings)).collect() if len(m.samples) == 1}
    assert gauges["connector_intake_journal_files"] == 0


def test_a_delivering_worker_files_a_slice_at_a_time_and_the_rest_on_later_passes(db_path, app):
    journal = IntakeJournal(db_path)
    for n in range(5):  # five closed files of two webhooks each
        journal.append(_event(2 * n))
        journal.append(_event(2 * n + 1))
        journal.close()
    db = connect_sqlite(db_path)
    try:
        assert file_journals(db, db_path, budget_s=0, batch_bytes=1) == 2  # one file, then out of time
        assert journal_backlog(db_path).files == 4
        assert file_journals(db, db_path, batch_bytes=1) == 8  # batch after batch, one file each
    finally:
        db.close()
    assert [e["dedupe_key"] for e in _events(db_path)] == [f"key-{n}" for n in range(10)]


def test_status_names_webhooks_answered_but_not_filed(settings, client, db_path):
    from click.testing import CliRunner

    from connector.cli import main

    body = fixture_bytes(DOCS_ORDER)
    assert client.post("/webhooks/shopify", data=body, headers=webhook_headers(body)).status_code == 200
    close_journals()  # the web process moved on to its next file
    result = CliRunner().invoke(main, ["status", "--config", str(settings.source)], env={})
    assert result.exit_code == 0, result.output
    assert "intake journal: 1 file(s) of webhooks answered but not filed yet" in result.output
    file_journal(db_path)
    assert "intake journal" not in CliRunner().invoke(main, ["status", "--config", str(settings.source)], env={}).output
