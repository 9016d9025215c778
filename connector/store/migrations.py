"""Schema: one list of steps for both engines. Append new steps, never edit applied ones.

Each step writes its DDL as SQLite has it; :meth:`Dialect.ddl` turns the column types into
PostgreSQL's (``INTEGER PRIMARY KEY`` → identity, ``BLOB`` → ``BYTEA``…), so there is one text
of the schema. Applied steps are recorded by name (on SQLite in sqlite-utils' own
``_sqlite_migrations`` table, which existing files already have).

Several gunicorn workers and worker processes start at once; :func:`migrate` serialises them
(SQLite's write lock; on PostgreSQL an advisory lock, with DDL inside the transaction) so each
step runs exactly once, and a process that waited finds nothing left to do.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple

from connector.store.db import Db, SqliteDb, connect, is_postgres, write_transaction
from connector.store.dialect import SQLITE

MIGRATION_SET = "connector"
STEPS: list[tuple[str, Callable[[Db], None]]] = []


def step(fn: Callable[[Db], None]) -> Callable[[Db], None]:
    STEPS.append((fn.__name__, fn))
    return fn


def _ddl(db: Db, sql: str) -> None:
    db.execute(db.dialect.ddl(sql))


@step
def m001_core(db: Db) -> None:
    # Every webhook (and re-synced order) as received: raw bytes, so nothing is lost even when
    # the body is not JSON. ``state`` follows the event through triage and delivery.
    _ddl(
        db,
        """
        CREATE TABLE events (
            id INTEGER PRIMARY KEY,
            shop TEXT NOT NULL,
            topic TEXT NOT NULL,
            dedupe_key TEXT NOT NULL,
            webhook_id TEXT,
            event_id TEXT,
            api_version TEXT,
            triggered_at TEXT,
            received_at TEXT NOT NULL,
            test INTEGER NOT NULL DEFAULT 0,
            source TEXT NOT NULL DEFAULT 'webhook',
            body BLOB NOT NULL,
            state TEXT NOT NULL DEFAULT 'new',
            reason TEXT,
            order_id TEXT,
            part_kind TEXT,
            part_id TEXT,
            resource_updated_at TEXT,
            processed_at TEXT,
            UNIQUE (shop, topic, dedupe_key)
        )
        """,
    )
    _ddl(db, "CREATE INDEX events_state ON events (state, id)")
    _ddl(db, "CREATE INDEX events_order ON events (shop, order_id)")
    # Sync state, one row per Shopify order: what the target holds and what is still to do.
    _ddl(
        db,
        """
        CREATE TABLE orders (
            shop TEXT NOT NULL,
            order_id TEXT NOT NULL,
            status TEXT NOT NULL DEFAULT 'pending',
            remote_id TEXT,
            newest_event_id INTEGER,
            newest_updated_at TEXT,
            delivered_event_id INTEGER,
            delivered_updated_at TEXT,
            payload_hash TEXT,
            deleted_at TEXT,
            delete_delivered INTEGER NOT NULL DEFAULT 0,
            has_work INTEGER NOT NULL DEFAULT 1,
            silent INTEGER NOT NULL DEFAULT 0,
            attempts INTEGER NOT NULL DEFAULT 0,
            first_failed_at TEXT,
            next_attempt_at TEXT NOT NULL,
            last_error TEXT,
            lease_owner TEXT,
            lease_until TEXT,
            last_synced_at TEXT,
            created_at TEXT NOT NULL,
            PRIMARY KEY (shop, order_id)
        )
        """,
    )
    _ddl(db, "CREATE INDEX orders_due ON orders (has_work, next_attempt_at)")
    _ddl(db, "CREATE INDEX orders_status ON orders (shop, status)")
    # Fulfillments and refunds of an order, each with its own remote id (e.g. Foxdeli parcel).
    _ddl(
        db,
        """
        CREATE TABLE order_parts (
            shop TEXT NOT NULL,
            kind TEXT NOT NULL,
            part_id TEXT NOT NULL,
            order_id TEXT NOT NULL,
            remote_id TEXT,
            newest_event_id INTEGER,
            newest_updated_at TEXT,
            delivered_event_id INTEGER,
            delivered_updated_at TEXT,
            payload_hash TEXT,
            PRIMARY KEY (shop, kind, part_id)
        )
        """,
    )
    _ddl(db, "CREATE INDEX order_parts_order ON order_parts (shop, order_id)")
    _ddl(
        db,
        """
        CREATE TABLE attempts (
            id INTEGER PRIMARY KEY,
            shop TEXT NOT NULL,
            order_id TEXT NOT NULL,
            what TEXT NOT NULL,
            outcome TEXT NOT NULL,
            status_code INTEGER,
            error TEXT,
            worker TEXT,
            started_at TEXT NOT NULL,
            duration_ms REAL
        )
        """,
    )
    _ddl(db, "CREATE INDEX attempts_order ON attempts (shop, order_id, id)")
    # The dead-letter list: deliveries that cannot succeed without a person, with the reason.
    _ddl(
        db,
        """
        CREATE TABLE failures (
            id INTEGER PRIMARY KEY,
            shop TEXT NOT NULL,
            order_id TEXT NOT NULL,
            reason TEXT NOT NULL,
            status_code INTEGER,
            attempts INTEGER NOT NULL,
            failed_at TEXT NOT NULL,
            replayed_at TEXT
        )
        """,
    )
    _ddl(db, "CREATE INDEX failures_open ON failures (replayed_at, shop)")
    _ddl(
        db,
        """
        CREATE TABLE shops (
            shop TEXT PRIMARY KEY,
            source TEXT NOT NULL,
            installed_at TEXT NOT NULL,
            uninstalled_at TEXT,
            scopes TEXT,
            access_token TEXT,
            refresh_token TEXT,
            token_expires_at TEXT
        )
        """,
    )
    _ddl(
        db,
        """
        CREATE TABLE dry_run_payloads (
            id INTEGER PRIMARY KEY,
            shop TEXT NOT NULL,
            order_id TEXT NOT NULL,
            kind TEXT NOT NULL,
            part_id TEXT,
            mapping TEXT NOT NULL,
            payload TEXT NOT NULL,
            recorded_at TEXT NOT NULL
        )
        """,
    )
    _ddl(db, "CREATE TABLE app_state (key TEXT PRIMARY KEY, value TEXT)")


@step
def m002_lifecycle(db: Db) -> None:
    # OAuth ``state`` nonces: single use (deleted when consumed) and short-lived, kept server-side
    # so any gunicorn worker can finish an install another one started.
    _ddl(
        db,
        """
        CREATE TABLE oauth_states (
            state TEXT PRIMARY KEY,
            shop TEXT NOT NULL,
            created_at TEXT NOT NULL,
            expires_at TEXT NOT NULL
        )
        """,
    )
    # customers/data_request: what the store owner asked for, until an operator answers it.
    # email/phone are blanked when the same customer is later redacted.
    _ddl(
        db,
        """
        CREATE TABLE data_requests (
            id INTEGER PRIMARY KEY,
            shop TEXT NOT NULL,
            data_request_id TEXT,
            customer_id TEXT,
            email TEXT,
            phone TEXT,
            orders_requested TEXT NOT NULL DEFAULT '[]',
            received_at TEXT NOT NULL,
            exported_at TEXT,
            redacted_at TEXT,
            UNIQUE (shop, data_request_id)
        )
        """,
    )


@step
def m003_jobs(db: Db) -> None:
    # Re-sync and reconcile jobs. The cursor (and the chunk of order ids) is written in the same
    # transaction as the events of each finished page, so a restart resumes after the last page
    # and never fetches it again. ``lease_*`` marks the live runner; a dead runner's lease lapses
    # and the worker resumes the job.
    _ddl(
        db,
        """
        CREATE TABLE jobs (
            id TEXT PRIMARY KEY,
            kind TEXT NOT NULL,
            shop TEXT NOT NULL,
            params TEXT NOT NULL,
            status TEXT NOT NULL DEFAULT 'queued',
            requested_by TEXT,
            cursor TEXT,
            chunk INTEGER NOT NULL DEFAULT 0,
            total INTEGER,
            pages INTEGER NOT NULL DEFAULT 0,
            fetched INTEGER NOT NULL DEFAULT 0,
            queued INTEGER NOT NULL DEFAULT 0,
            duplicates INTEGER NOT NULL DEFAULT 0,
            skipped INTEGER NOT NULL DEFAULT 0,
            recovered INTEGER NOT NULL DEFAULT 0,
            notes TEXT NOT NULL DEFAULT '[]',
            error TEXT,
            created_at TEXT NOT NULL,
            started_at TEXT,
            updated_at TEXT NOT NULL,
            finished_at TEXT,
            lease_owner TEXT,
            lease_until TEXT
        )
        """,
    )
    _ddl(db, "CREATE INDEX jobs_open ON jobs (status, lease_until)")
    _ddl(db, "CREATE INDEX jobs_shop ON jobs (shop, kind, created_at)")


@step
def m004_partial_event_order_index(db: Db) -> None:
    # Events arrive without an order id (triage sets it): a partial index costs the webhook's
    # INSERT nothing, and look-ups by (shop, order_id) still use it.
    _ddl(db, "DROP INDEX events_order")
    _ddl(db, "CREATE INDEX events_order ON events (shop, order_id) WHERE order_id IS NOT NULL")


@step
def m005_tenancy(db: Db) -> None:
    # Each shop's own tracking account and options, as its merchant set them in the app.
    # ``fields`` holds the non-secret account fields (JSON), ``secrets`` the secret ones as one
    # Fernet token (shopify.token_encryption_key), never in clear. ``check_*`` is the last verdict
    # on the account's credentials (a connection test or a delivery); while ``check_ok = 0`` and
    # ``recheck_at`` lies ahead, the shop's deliveries wait (see orders.hold_undeliverable).
    _ddl(
        db,
        """
        CREATE TABLE shop_settings (
            shop TEXT PRIMARY KEY,
            kind TEXT,
            fields TEXT NOT NULL DEFAULT '{}',
            secrets TEXT,
            options TEXT NOT NULL DEFAULT '{}',
            paused INTEGER NOT NULL DEFAULT 0,
            check_ok INTEGER,
            check_message TEXT,
            checked_at TEXT,
            recheck_at TEXT,
            updated_at TEXT NOT NULL
        )
        """,
    )
    _ddl(db, "CREATE INDEX shop_settings_recheck ON shop_settings (check_ok, recheck_at)")
    # What the merchant sees of an order: its name as Shopify shows it (#1001), its number and
    # when it was placed (Shopify's created_at; first seen until the order body arrives).
    _ddl(db, "ALTER TABLE orders ADD COLUMN name TEXT")
    _ddl(db, "ALTER TABLE orders ADD COLUMN order_number TEXT")
    _ddl(db, "ALTER TABLE orders ADD COLUMN placed_at TEXT")
    _ddl(db, "UPDATE orders SET placed_at = created_at")
    # The merchant's order list: newest first, keyset-paged, per shop and per shop and status.
    _ddl(db, "CREATE INDEX orders_placed ON orders (shop, placed_at, order_id)")
    _ddl(db, "CREATE INDEX orders_status_placed ON orders (shop, status, placed_at, order_id)")
    _ddl(db, "CREATE INDEX orders_name ON orders (shop, name)")
    _ddl(db, "CREATE INDEX orders_number ON orders (shop, order_number)")
    _ddl(db, "CREATE INDEX orders_synced ON orders (shop, last_synced_at)")
    # Held and skipped orders wait far in the future: claims scan only orders that can go now.
    _ddl(db, "DROP INDEX orders_due")
    _ddl(db, "CREATE INDEX orders_due ON orders (has_work, next_attempt_at) WHERE status IN ('pending', 'retrying')")
    # The oldest waiting event of one shop; partial, so a webhook's INSERT (state 'new') pays nothing.
    _ddl(db, "CREATE INDEX events_waiting ON events (shop, received_at) WHERE state IN ('queued', 'held')")
    # One token exchange per shop at a time, across gunicorn workers (two tabs opening the app).
    _ddl(
        db,
        """
        CREATE TABLE shop_locks (
            shop TEXT NOT NULL,
            purpose TEXT NOT NULL,
            owner TEXT NOT NULL,
            until TEXT NOT NULL,
            PRIMARY KEY (shop, purpose)
        )
        """,
    )
    # A Dev Dashboard app's own client id and secret (client credentials grant), when it is not
    # this app's shopify.api_key/api_secret; the secret encrypted like the tokens.
    _ddl(db, "ALTER TABLE shops ADD COLUMN client_id TEXT")
    _ddl(db, "ALTER TABLE shops ADD COLUMN client_secret TEXT")
    _ddl(db, "ALTER TABLE shops ADD COLUMN renew_after TEXT")


@step
def m006_wake_workers(db: Db) -> None:
    # PostgreSQL: every stored event wakes the idle workers (LISTEN/NOTIFY); SQLite workers poll.
    for sql in db.dialect.wakeup_trigger():
        db.execute(sql)


@step
def m007_part_remote_items(db: Db) -> None:
    # The resources one part became at the target, by key: a Foxdeli parcel per tracking number
    # of a fulfillment. JSON object {key: [remote id, digest of what was sent]}; NULL for parts
    # that are one resource (remote_id alone).
    db.execute("ALTER TABLE order_parts ADD COLUMN remote_items TEXT")


@step
def m008_redactions(db: Db) -> None:
    # customers/redact requests under way, one row each until honoured in full. ``state`` holds
    # the customer's identifiers, their orders found so far and the values taken out (personal
    # data, needed to scrub copies elsewhere): the row is deleted, securely, when done.
    # ``until_id``: events stored after the request are not part of it.
    _ddl(
        db,
        """
        CREATE TABLE redactions (
            event_id INTEGER PRIMARY KEY,
            shop TEXT NOT NULL,
            phase TEXT NOT NULL,
            cursor INTEGER NOT NULL DEFAULT 0,
            until_id INTEGER NOT NULL,
            state TEXT NOT NULL,
            lease_owner TEXT,
            lease_until TEXT,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        )
        """,
    )


@step
def m009_job_fulfillments(db: Db) -> None:
    # Re-sync and reconcile bring each order's fulfillments too (fulfillments/update events):
    # how many a job queued, beside its orders.
    db.execute("ALTER TABLE jobs ADD COLUMN fulfillments INTEGER NOT NULL DEFAULT 0")


@step
def m010_missing_orders(db: Db) -> None:
    # An order known only by its fulfillments or refunds (its orders/* webhook lost): since when
    # a delivery of those waits for the order body, and when the worker asked Shopify for it.
    db.execute("ALTER TABLE orders ADD COLUMN order_missing_since TEXT")
    db.execute("ALTER TABLE orders ADD COLUMN order_fetched_at TEXT")


@step
def m011_failure_resolution(db: Db) -> None:
    # Why a dead-letter entry closed (``replayed_at`` says when): replayed by a person, or
    # settled by a later successful delivery of its order. NULL on entries closed before.
    db.execute("ALTER TABLE failures ADD COLUMN resolution TEXT")


# Events whose bodies one statement of m012 moves: few enough that the pages each batch frees
# hold the next batch's bodies, so the file grows by one batch, not by every body once more.
BODY_MOVE_BATCH = 500


@step
def m012_event_bodies(db: Db) -> None:
    # Each event's raw body in a row of its own. Triage and delivery change an event's state
    # twice; with the ~10 KB body in the row (overflow pages) each change rewrote all of it on
    # SQLite, ~8 WAL frames an update. ``events.body`` stays, empty (m001 made it NOT NULL, and
    # SQLite's intake still inserts the body there for the trigger to move: dialect.body_trigger).
    _ddl(
        db,
        """
        CREATE TABLE event_bodies (
            event_id INTEGER NOT NULL PRIMARY KEY REFERENCES events (id) ON DELETE CASCADE,
            body BLOB NOT NULL
        )
        """,
    )
    after = 0
    while (upto := _body_batch_end(db, after)) is not None:
        db.execute(
            "INSERT INTO event_bodies (event_id, body) SELECT id, body FROM events WHERE id > ? AND id <= ?",
            [after, upto],
        )
        db.execute("UPDATE events SET body = ? WHERE id > ? AND id <= ?", [b"", after, upto])
        after = upto
    for sql in db.dialect.body_trigger():
        db.execute(sql)


@step
def m013_body_trigger_skips_empty_bodies(db: Db) -> None:
    # The trigger of m012 leaves an event inserted with an empty body alone: such an insert (the
    # intake journal's filing) writes the body row itself, instead of writing the body into the
    # event row for the trigger to move (dialect.body_trigger).
    if db.dialect.body_trigger():
        db.execute("DROP TRIGGER IF EXISTS events_move_body")
        for sql in db.dialect.body_trigger():
            db.execute(sql)


def _body_batch_end(db: Db, after: int) -> int | None:
    """The last id of the next ``BODY_MOVE_BATCH`` events after ``after``; None when none is left."""
    row = db.execute(
        "SELECT max(id) FROM (SELECT id FROM events WHERE id > ? ORDER BY id LIMIT ?) AS batch",
        [after, BODY_MOVE_BATCH],
    ).fetchone()
    return None if row is None or row[0] is None else int(row[0])


class Applied(NamedTuple):
    name: str
    applied_at: str


class Migrations:
    """The steps, and what a store has applied of them (the shape of sqlite-utils' Migrations)."""

    def applied(self, db: Any) -> list[Applied]:
        """Applied steps in the order they were applied (read only; any SQLite connection too)."""
        dialect = getattr(db, "dialect", SQLITE)
        table = dialect.migrations_table
        if not dialect.table_exists(db, table):
            return []
        rows = db.execute(f"SELECT name, applied_at FROM {table} WHERE migration_set = ? ORDER BY id", [MIGRATION_SET])
        return [Applied(name, applied_at) for name, applied_at in rows]

    def pending(self, db: Any) -> list[str]:
        """Names of the steps not applied yet (read only)."""
        done = {m.name for m in self.applied(db)}
        return [name for name, _ in STEPS if name not in done]

    def apply(self, db: Db, stop_before: str | Iterable[str] | None = None) -> None:
        """Apply pending steps (up to ``stop_before``), one process at a time.

        The whole run is one transaction holding the migration lock; a process that waited for
        it re-reads the applied list under the lock and finds nothing left to do.
        """
        stop = {stop_before} if isinstance(stop_before, str) else set(stop_before or ())
        if not self.pending(db):
            return
        with write_transaction(db):
            db.dialect.serialize(db, "migrations")
            _ensure_migrations_table(db)
            done = {m.name for m in self.applied(db)}
            for name, apply in STEPS:
                if name in stop:
                    return
                if name not in done:
                    apply(db)
                    db.execute(
                        f"INSERT INTO {db.dialect.migrations_table} (migration_set, name, applied_at) VALUES (?, ?, ?)",
                        [MIGRATION_SET, name, str(datetime.now(UTC))],
                    )


migrations = Migrations()


def migrate(db: Db) -> None:
    """Apply pending migrations, one process at a time (see :meth:`Migrations.apply`)."""
    migrations.apply(db)


def known_migrations() -> list[str]:
    """Every migration this version of the connector has, in order."""
    return [name for name, _ in STEPS]


def pending_migrations(location: str) -> list[str]:
    """Migrations not yet applied to the store at ``location``; read only (no file is created)."""
    if is_postgres(location):
        db = connect(location)
        try:
            return migrations.pending(db)
        finally:
            db.close()
    if not Path(location).is_file():
        return known_migrations()
    # A plain connection that only reads: it changes nothing, and unlike a mode=ro one it can
    # tidy a WAL database's -wal/-shm files away when it closes.
    conn = sqlite3.connect(location, isolation_level=None)
    try:
        return migrations.pending(SqliteDb(conn, location))
    finally:
        conn.close()


def _ensure_migrations_table(db: Db) -> None:
    # The columns of sqlite-utils' Migrations table, so files it migrated read the same.
    table = db.dialect.migrations_table
    _ddl(
        db,
        f"CREATE TABLE IF NOT EXISTS {table} (id INTEGER PRIMARY KEY, migration_set TEXT, name TEXT, applied_at TEXT)",
    )
    db.execute(f"CREATE UNIQUE INDEX IF NOT EXISTS {table}_name ON {table} (migration_set, name)")
