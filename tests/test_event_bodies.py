"""Each event's raw body in a table of its own (``event_bodies``, migration m012_event_bodies), on
SQLite and PostgreSQL: intake still one statement, every reader and writer on the new table,
bodies gone with their events, and the point of it — a change of an event's state no longer
rewrites its body.
"""

from __future__ import annotations

import sqlite3
import struct
import time
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from connector.store import events as event_store
from connector.store import migrations as migration_steps
from connector.store import privacy as privacy_store
from connector.store import shops as shop_store
from connector.store.copy import data_tables
from connector.store.db import Db, connect, intake_db, write_transaction
from connector.store.events import NewEvent, save_event, save_events_at_once
from connector.store.migrations import migrate, migrations
from tests.support import SHOP, order_body

pytestmark = pytest.mark.both_engines

OTHER_SHOP = "other-shop.myshopify.com"
BODY = order_body()  # the docs' sample order, ~12 KB: its row spills to overflow pages


@pytest.fixture
def db(db_path: str) -> Iterator[Db]:
    database = connect(db_path)
    migrate(database)
    yield database
    database.close()


def event(key: str, body: bytes = BODY, shop: str = SHOP, topic: str = "orders/updated") -> NewEvent:
    return NewEvent(shop, topic, key, body)


def bodies(db: Db) -> dict[int, bytes]:
    return {row[0]: bytes(row[1]) for row in db.execute("SELECT event_id, body FROM event_bodies ORDER BY event_id")}


def event_row_bodies(db: Db) -> set[bytes]:
    return {bytes(row[0]) for row in db.execute("SELECT body FROM events")}


def test_a_stored_event_has_its_body_in_a_row_of_its_own_and_a_duplicate_writes_none(db):
    first, duplicate = save_event(db, event("k1", b'{"id": 1}'))
    assert first is not None and not duplicate
    assert save_event(db, event("k1", b'{"id": "another body"}')) == (None, True)
    second, _ = save_event(db, event("k2"))
    assert bodies(db) == {first: b'{"id": 1}', second: BODY}  # the duplicate's body went nowhere
    assert event_row_bodies(db) == {b""}  # the event rows hold none
    assert event_store.fetch_event_body(db, first) == b'{"id": 1}'
    assert event_store.fetch_event_body(db, second, SHOP) == BODY
    assert event_store.fetch_event_body(db, second, OTHER_SHOP) is None  # scoped to its shop
    assert event_store.fetch_event_body(db, second + 1) is None


@pytest.mark.parametrize("batch", [2, migration_steps.BODY_MOVE_BATCH])
def test_the_migration_moves_every_stored_body_and_empties_the_event_rows(db_path, monkeypatch, batch):
    monkeypatch.setattr(migration_steps, "BODY_MOVE_BATCH", batch)
    with closing(connect(_unmigrated(db_path))) as db:
        migrations.apply(db, stop_before="m012_event_bodies")
        old = {n: f'{{"id": {n}, "note": "{"x" * n * 700}"}}'.encode() for n in range(1, 8)}
        for n, body in old.items():  # as the previous version stored them: the body in the row
            db.execute(
                "INSERT INTO events (shop, topic, dedupe_key, received_at, body) VALUES (?, 'orders/updated', ?, ?, ?)",
                [SHOP, f"old-{n}", "2026-11-25T10:00:00.000000Z", body],
            )
        migrate(db)
        assert bodies(db) == old
        assert event_row_bodies(db) == {b""}
        new_id, _ = save_event(db, event("after"))  # intake goes on, into the new table
        assert bodies(db)[new_id] == BODY and event_row_bodies(db) == {b""}
        assert migrations.pending(db) == []


@pytest.mark.sqlite_only
def test_the_migration_grows_the_file_by_about_one_batch_not_by_every_body(tmp_path, monkeypatch):
    monkeypatch.setattr(migration_steps, "BODY_MOVE_BATCH", 100)
    path = tmp_path / "big.db"
    count, body = 1500, b'{"note": "' + b"x" * 10_000 + b'"}'
    with closing(connect(str(path))) as db:
        migrations.apply(db, stop_before="m012_event_bodies")
        with write_transaction(db):
            for n in range(count):
                db.execute(
                    "INSERT INTO events (shop, topic, dedupe_key, received_at, body) VALUES (?, 't', ?, 'x', ?)",
                    [SHOP, str(n), body],
                )
        before = _pages(db)
        migrate(db)
        assert db.execute("SELECT count(*) FROM event_bodies WHERE length(body) = ?", [len(body)]).fetchone()[0] == count
        grown_bytes = (_pages(db) - before) * 4096
    # One batch is 1/15 of the bodies; moved all at once, the file would grow by all of them.
    assert grown_bytes < 0.4 * count * len(body), grown_bytes


def _pages(db: Db) -> int:
    return db.execute("PRAGMA page_count").fetchone()[0]


def _unmigrated(db_path: str) -> str:
    """A store with no schema yet: the SQLite file, or on PostgreSQL a database of its own."""
    if not db_path.startswith("postgresql"):
        return db_path
    with closing(connect(db_path)) as db:  # the test's migrated database: make it blank again
        for table in [row[0] for row in db.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")]:
            db.execute(f"DROP TABLE {table} CASCADE")
        db.execute("DROP FUNCTION IF EXISTS connector_wake_workers() CASCADE")
    return db_path


# -- SQLite: the trigger that keeps intake one statement ------------------------------------------
@pytest.mark.sqlite_only
def test_the_multi_row_insert_reports_only_its_own_rows_despite_the_trigger(db):
    save_event(db, event("there-already"))
    keys = ["a", "there-already", "b", "a", "c"]  # one duplicate of a stored event, one within the statement
    cursor = db.conn.execute(
        "INSERT INTO events (shop, topic, dedupe_key, received_at, body) VALUES "
        + ", ".join("(?, 'orders/updated', ?, 'x', ?)" for _ in keys)
        + " ON CONFLICT (shop, topic, dedupe_key) DO NOTHING",
        [value for key in keys for value in (SHOP, key, f"body of {key}".encode())],
    )
    # The trigger's UPDATE and INSERT (two more changes per row) are not counted, nor its rowids.
    assert (cursor.rowcount, cursor.lastrowid) == (3, 4)
    assert db.conn.total_changes >= 3 * 3  # ...though they were made
    assert bodies(db) == {1: BODY, 2: b"body of a", 3: b"body of b", 4: b"body of c"}


@pytest.mark.sqlite_only
def test_save_events_at_once_answers_ids_and_duplicates_as_before(db_path):
    with closing(connect(db_path)) as db:
        migrate(db)
        save_event(db, event("k2"))
    db = intake_db(db_path)
    results = save_events_at_once(db, [event("k1", b"1"), event("k2", b"2"), event("k3", b"3"), event("k1", b"4")])
    assert results == [(2, False), (None, True), (3, False), (None, True)]
    assert save_events_at_once(db, [event("k4", b"5"), event("k5", b"6")]) == [(4, False), (5, False)]
    assert bodies(db) == {1: BODY, 2: b"1", 3: b"3", 4: b"5", 5: b"6"}
    assert event_row_bodies(db) == {b""}


@pytest.mark.sqlite_only
def test_an_intake_turn_writes_about_one_page_more_and_a_state_change_far_fewer(tmp_path):
    """WAL frames (4 KB pages) written, against the same store with the body left in the event
    row (the trigger dropped). A webhook's turn writes its body once — the pages the event row's
    copy frees are reused by the body row — plus the body table's leaf, and a leaf of its own
    when the body's part that SQLite keeps in the leaf fills one (12 KB bodies: 9 frames, 7
    inline). A change of the event's state no longer rewrites the body's overflow pages (4
    frames, 10 inline)."""
    moved_turn, moved_update = _frames_per_turn_and_update(str(tmp_path / "moved.db"), body_in_row=False)
    inline_turn, inline_update = _frames_per_turn_and_update(str(tmp_path / "inline.db"), body_in_row=True)
    assert moved_turn <= inline_turn + 2, (moved_turn, inline_turn)
    assert moved_update <= inline_update / 2, (moved_update, inline_update)


def _frames_per_turn_and_update(db_path: str, body_in_row: bool, turns: int = 20) -> tuple[float, float]:
    with closing(connect(db_path)) as setup:
        migrate(setup)
        if body_in_row:
            setup.execute("DROP TRIGGER events_move_body")
    db = intake_db(db_path)  # wal_autocheckpoint = 0: the WAL only grows
    for n in range(40):
        save_events_at_once(db, [event(f"warm-{n}")])
    wal = Path(db_path + "-wal")
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
    for n in range(turns):
        save_events_at_once(db, [event(f"turn-{n}")])
    per_turn = _frames(wal) / turns
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
    for event_id in range(1, turns + 1):
        event_store.set_event_state(db, event_id, "queued", order_id=str(event_id))
    return per_turn, _frames(wal) / turns


def _frames(wal: Path) -> int:
    data = wal.read_bytes()
    frames = (len(data) - 32) // (4096 + 24)
    assert struct.unpack(">I", data[8:12])[0] == 4096  # the WAL's page size
    return frames


# -- the rows go with their events -----------------------------------------------------------------
def test_pruning_deletes_the_bodies_of_the_events_it_deletes(db):
    kept, gone, other = (save_event(db, event(key))[0] for key in ("kept", "gone", "other"))
    for event_id in (gone, other):
        event_store.set_event_state(db, event_id, "ignored")
    event_store.set_event_state(db, kept, "queued")
    time.sleep(0.002)
    assert event_store.prune_events(db, older_than_s=0, batch=1) == 2
    assert list(bodies(db)) == [kept]


def test_erasing_a_shop_deletes_its_bodies_only(db):
    shop_store.add_shop(db, SHOP, "config")
    mine = [save_event(db, event(f"m{n}"))[0] for n in range(3)]
    redact_id, _ = save_event(db, event("redact", b'{"shop_domain": "x"}', topic="shop/redact"))
    theirs, _ = save_event(db, event("t", b"theirs", shop=OTHER_SHOP))
    assert privacy_store.delete_shop_events_batch(db, SHOP, batch=2) == 2
    assert sorted(bodies(db)) == sorted([mine[2], redact_id, theirs])
    with write_transaction(db):
        assert privacy_store.erase_shop(db, SHOP)["events"] == 1
    assert bodies(db) == {redact_id: b'{"shop_domain": "x"}', theirs: b"theirs"}


def test_redaction_rewrites_the_body_row(db):
    event_id, _ = save_event(db, event("k", b'{"email": "jon@example.com"}'))
    with write_transaction(db), privacy_store.secure_delete(db):
        privacy_store.set_event_body(db, event_id, b'{"email": ""}')
    assert [row["body"] for row in privacy_store.shop_events(db, SHOP)] == [b'{"email": ""}']
    assert [row["body"] for row in privacy_store.events_after(db, SHOP, 0, event_id, 10)] == [b'{"email": ""}']
    assert event_row_bodies(db) == {b""}


@pytest.mark.sqlite_only
def test_a_redacted_body_leaves_no_trace_in_the_file(db, db_path):
    event_id, _ = save_event(db, event("k", b'{"email": "jon@example.com", "pad": "' + b"p" * 9000 + b'"}'))
    with write_transaction(db), privacy_store.secure_delete(db):
        privacy_store.set_event_body(db, event_id, b'{"email": ""}')
    privacy_store.checkpoint_wal(db)
    assert b"jon@example.com" not in Path(db_path).read_bytes()


@pytest.mark.sqlite_only
def test_a_copy_writes_events_before_the_bodies_that_refer_to_them(db):
    tables = data_tables(db)
    assert tables.index("events") < tables.index("event_bodies")
    assert set(tables) >= {"events", "event_bodies", "orders", "shops"}


def _foreign_keys_on(conn: Any) -> bool:
    return bool(conn.execute("PRAGMA foreign_keys").fetchone()[0])


@pytest.mark.sqlite_only
def test_every_store_connection_enforces_foreign_keys(db, db_path):
    assert _foreign_keys_on(db.conn) and _foreign_keys_on(intake_db(db_path).conn)
    with pytest.raises(sqlite3.IntegrityError):
        db.execute("INSERT INTO event_bodies (event_id, body) VALUES (999, X'00')")


@pytest.mark.sqlite_only
def test_events_filed_with_their_bodies_write_each_body_once_and_the_upgrade_keeps_intake_moving_them(db_path):
    """m013: the trigger leaves events inserted with an empty body to bring their body row
    themselves (the intake journal's filing); an ordinary intake INSERT is still moved."""
    with closing(connect(_unmigrated(db_path))) as db:
        migrations.apply(db, stop_before="m013_body_trigger_skips_empty_bodies")
        migrate(db)
        trigger = db.execute("SELECT sql FROM sqlite_master WHERE name = 'events_move_body'").fetchone()[0]
        assert "WHEN length(NEW.body) > 0" in trigger
        with write_transaction(db):
            new = event_store.save_events_with_bodies(db, [event("f-1"), event("f-2", b'{"id": 2}'), event("f-1")])
        assert new == 2  # the key given twice is one event, with the first body
        moved_id, _ = save_event(db, event("ordinary", b'{"id": 3}'))
        by_key = {key: id_ for id_, key in db.execute("SELECT id, dedupe_key FROM events")}
        assert bodies(db) == {by_key["f-1"]: BODY, by_key["f-2"]: b'{"id": 2}', moved_id: b'{"id": 3}'}
        assert event_row_bodies(db) == {b""}
        with write_transaction(db):  # filed again (a filer that died before removing its file)
            assert event_store.save_events_with_bodies(db, [event("f-1"), event("f-2")]) == 0
        assert len(bodies(db)) == 3
