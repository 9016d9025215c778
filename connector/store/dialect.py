"""The few things SQLite and PostgreSQL really do differently, in one place.

Every query of the store is one text both engines run (``?`` placeholders; the PostgreSQL
backend translates them). What cannot be written that way lives here:

* **row locks** — SQLite's ``BEGIN IMMEDIATE`` already serialises every writer, so a read that
  decides a write needs nothing more there; on PostgreSQL (READ COMMITTED) such a read takes
  ``FOR UPDATE``, and the claim of due work ``FOR UPDATE … SKIP LOCKED``;
* **named locks** — a read-then-write that spans many rows (triage, migrations, job creation)
  holds a transaction-level advisory lock on PostgreSQL; SQLite's write lock covers it;
* **DDL types** — rowid keys, BLOB, REAL and integer widths;
* **after a redaction** — SQLite overwrites freed pages (``secure_delete``) and empties its WAL;
  PostgreSQL vacuums the touched tables so dead row versions become reusable space;
* **wake-ups** — PostgreSQL tells idle workers about new events (``LISTEN/NOTIFY``); SQLite
  workers poll;
* **event bodies** — on SQLite a trigger moves each new event's body into ``event_bodies``, so
  intake stays one multi-row INSERT; PostgreSQL's INSERT writes both rows itself (a CTE);
* **catalogue** — which tables exist, their columns, and the id sequences a copy continues.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from connector.store.db import Db

log = logging.getLogger(__name__)

# Channel a worker LISTENs on; a trigger on ``events`` notifies it on every stored event.
WAKEUP_CHANNEL = "connector_events"


class Dialect:
    """SQLite: the embedded default. Methods return SQL fragments or run what differs."""

    name = "sqlite"
    migrations_table = "_sqlite_migrations"  # sqlite-utils' own table: existing files keep their history

    def lock(self, of: str | None = None, skip_locked: bool = False) -> str:
        """Suffix for a SELECT whose rows the transaction will write (nothing on SQLite)."""
        return ""

    # A write transaction holds the whole store's write lock (intake waits for it meanwhile).
    global_write_lock = True

    def serialize(self, db: Db, name: str) -> None:
        """Hold ``name``'s lock until the transaction ends (SQLite: the write lock already is)."""

    def try_serialize(self, db: Db, name: str) -> bool:
        """Like :meth:`serialize`, but False at once when another transaction holds it."""
        return True

    def busy(self, db: Db, name: str) -> bool:
        """Outside a transaction: whether another transaction holds ``name``'s lock right now."""
        return False

    def notify_workers(self, db: Db) -> None:
        """Wake idle workers when this transaction commits (SQLite: they poll)."""

    def ddl(self, sql: str) -> str:
        return sql

    def table_exists(self, db: Db, table: str) -> bool:
        return (
            db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", [table]).fetchone() is not None
        )

    @contextmanager
    def secure_delete(self, db: Db) -> Iterator[None]:
        """Overwrite what this block deletes or rewrites, instead of leaving it in free pages."""
        previous = db.execute("PRAGMA secure_delete").fetchone()[0]
        db.execute("PRAGMA secure_delete = ON")
        try:
            yield
        finally:
            db.execute(f"PRAGMA secure_delete = {int(previous)}")

    def after_redaction(self, db: Db) -> None:
        """Outside any transaction: copy the WAL into the file and truncate it, so old page
        images of redacted rows leave the WAL file too."""
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()

    def wakeup_trigger(self) -> tuple[str, ...]:
        return ()

    @property
    def bodies_by_trigger(self) -> bool:
        """Whether an INSERT INTO events with the body in its row is enough (a trigger moves the
        body to ``event_bodies``); else the INSERT writes the body row itself (events.save_event)."""
        return bool(self.body_trigger())

    def body_trigger(self) -> tuple[str, ...]:
        # The body goes to a row of its own, so the event's two later state changes rewrite a
        # small row instead of the body's overflow pages. Emptying the event's copy first frees
        # those pages, which the body row then reuses in the same transaction: intake writes
        # the body once. A trigger's changes and inserted rowids are not reported by the INSERT
        # (changes(), last_insert_rowid()): save_events_at_once still reads its ids from them.
        # An event inserted with an empty body brings its body row itself (the intake journal's
        # filing, connector.store.events.save_events_with_bodies: ~30% less to write than moving it).
        return (
            "CREATE TRIGGER events_move_body AFTER INSERT ON events WHEN length(NEW.body) > 0 BEGIN "
            "UPDATE events SET body = X'' WHERE id = NEW.id; "
            "INSERT INTO event_bodies (event_id, body) VALUES (NEW.id, NEW.body); "
            "END",
        )

    def columns(self, db: Db, table: str) -> list[str]:
        return [row[1] for row in db.execute(f"PRAGMA table_info({table})")]

    def continue_ids(self, db: Db, table: str) -> None:
        """After rows were copied in with their ids: new rows get ids after them (SQLite: always)."""


class PostgresDialect(Dialect):
    name = "postgresql"
    migrations_table = "connector_migrations"

    def lock(self, of: str | None = None, skip_locked: bool = False) -> str:
        return " FOR UPDATE" + (f" OF {of}" if of else "") + (" SKIP LOCKED" if skip_locked else "")

    global_write_lock = False

    def serialize(self, db: Db, name: str) -> None:
        db.execute("SELECT pg_advisory_xact_lock(?)", [advisory_key(name)]).fetchall()

    def try_serialize(self, db: Db, name: str) -> bool:
        return bool(db.execute("SELECT pg_try_advisory_xact_lock(?)", [advisory_key(name)]).fetchone()[0])

    def busy(self, db: Db, name: str) -> bool:
        # In a statement of its own (autocommit), taken and let go at once: only a probe.
        return not self.try_serialize(db, name)

    def notify_workers(self, db: Db) -> None:
        db.execute(f"SELECT pg_notify('{WAKEUP_CHANNEL}', '')").fetchall()

    def ddl(self, sql: str) -> str:
        # Same column text as SQLite's, byte-wise ("C") ordering of text as SQLite's BINARY
        # collation, 64-bit integers as SQLite's, ids that take explicit values (db copy).
        sql = re.sub(r"\bINTEGER PRIMARY KEY\b", "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY", sql)
        sql = re.sub(r"\bINTEGER\b", "BIGINT", sql)
        sql = re.sub(r"\bREAL\b", "DOUBLE PRECISION", sql)
        sql = re.sub(r"\bBLOB\b", "BYTEA", sql)
        return re.sub(r"\bTEXT\b", 'TEXT COLLATE "C"', sql)

    def table_exists(self, db: Db, table: str) -> bool:
        return db.execute("SELECT to_regclass(?) IS NOT NULL", [table]).fetchone()[0]

    @contextmanager
    def secure_delete(self, db: Db) -> Iterator[None]:
        # No equivalent: an UPDATE or DELETE leaves the old row version until VACUUM reclaims it
        # (after_redaction), and the WAL archive, replicas and backups keep it (docs/deploy.md).
        yield

    def after_redaction(self, db: Db) -> None:
        try:
            db.execute(
                "VACUUM events, event_bodies, dry_run_payloads, orders, order_parts, attempts, failures, data_requests"
            )
        except Exception as exc:  # noqa: BLE001 - not the tables' owner, the server busy: autovacuum does it later
            log.warning("could not vacuum after a redaction (%s); autovacuum will reclaim the space", exc)

    def columns(self, db: Db, table: str) -> list[str]:
        rows = db.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() "
            "AND table_name = ? ORDER BY ordinal_position",
            [table],
        )
        return [row[0] for row in rows]

    def continue_ids(self, db: Db, table: str) -> None:
        if "id" not in self.columns(db, table):
            return
        sequence = db.execute("SELECT pg_get_serial_sequence(?, 'id')", [table]).fetchone()
        if sequence and sequence[0]:
            db.execute(f"SELECT setval(?, (SELECT coalesce(max(id), 0) + 1 FROM {table}), false)", [sequence[0]])

    def wakeup_trigger(self) -> tuple[str, ...]:
        return (
            f"""CREATE OR REPLACE FUNCTION connector_wake_workers() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN PERFORM pg_notify('{WAKEUP_CHANNEL}', ''); RETURN NULL; END $$""",
            "CREATE TRIGGER events_wake_workers AFTER INSERT ON events "
            "FOR EACH STATEMENT EXECUTE FUNCTION connector_wake_workers()",
        )

    def body_trigger(self) -> tuple[str, ...]:
        return ()  # each webhook commits on its own here: one statement inserts the event and its body row


SQLITE = Dialect()
POSTGRES = PostgresDialect()


def advisory_key(name: str) -> int:
    """A stable signed 64-bit key for ``pg_advisory_xact_lock``, derived from a name."""
    return int.from_bytes(hashlib.sha256(f"connector:{name}".encode()).digest()[:8], "big", signed=True)
