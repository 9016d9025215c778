"""Schema, managed by sqlite-utils ``Migrations``: append new steps, never edit applied ones.

Several gunicorn workers and worker processes start at once; :func:`migrate` serialises them on
SQLite's write lock so each step runs exactly once.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import sqlite_utils
from sqlite_utils import Migrations

from connector.store.db import write_transaction

migrations = Migrations("connector")


@migrations()
def m001_core(db: sqlite_utils.Database) -> None:
    # Every webhook (and re-synced order) as received: raw bytes, so nothing is lost even when
    # the body is not JSON. ``state`` follows the event through triage and delivery.
    db.execute(
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
        """
    )
    db.execute("CREATE INDEX events_state ON events (state, id)")
    db.execute("CREATE INDEX events_order ON events (shop, order_id)")
    # Sync state, one row per Shopify order: what the target holds and what is still to do.
    db.execute(
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
        """
    )
    db.execute("CREATE INDEX orders_due ON orders (has_work, next_attempt_at)")
    db.execute("CREATE INDEX orders_status ON orders (shop, status)")
    # Fulfillments and refunds of an order, each with its own remote id (e.g. Foxdeli parcel).
    db.execute(
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
        """
    )
    db.execute("CREATE INDEX order_parts_order ON order_parts (shop, order_id)")
    db.execute(
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
        """
    )
    db.execute("CREATE INDEX attempts_order ON attempts (shop, order_id, id)")
    # The dead-letter list: deliveries that cannot succeed without a person, with the reason.
    db.execute(
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
        """
    )
    db.execute("CREATE INDEX failures_open ON failures (replayed_at, shop)")
    db.execute(
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
        """
    )
    db.execute(
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
        """
    )
    db.execute("CREATE TABLE app_state (key TEXT PRIMARY KEY, value TEXT)")


@migrations()
def m002_lifecycle(db: sqlite_utils.Database) -> None:
    # OAuth ``state`` nonces: single use (deleted when consumed) and short-lived, kept server-side
    # so any gunicorn worker can finish an install another one started.
    db.execute(
        """
        CREATE TABLE oauth_states (
            state TEXT PRIMARY KEY,
            shop TEXT NOT NULL,
            created_at TEXT NOT NULL,
            expires_at TEXT NOT NULL
        )
        """
    )
    # customers/data_request: what the store owner asked for, until an operator answers it.
    # email/phone are blanked when the same customer is later redacted.
    db.execute(
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
        """
    )


@migrations()
def m003_jobs(db: sqlite_utils.Database) -> None:
    # Re-sync and reconcile jobs. The cursor (and the chunk of order ids) is written in the same
    # transaction as the events of each finished page, so a restart resumes after the last page
    # and never fetches it again. ``lease_*`` marks the live runner; a dead runner's lease lapses
    # and the worker resumes the job.
    db.execute(
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
        """
    )
    db.execute("CREATE INDEX jobs_open ON jobs (status, lease_until)")
    db.execute("CREATE INDEX jobs_shop ON jobs (shop, kind, created_at)")


@migrations()
def m004_partial_event_order_index(db: sqlite_utils.Database) -> None:
    # Events arrive without an order id (triage sets it): a partial index costs the webhook's
    # INSERT nothing, and look-ups by (shop, order_id) still use it.
    db.execute("DROP INDEX events_order")
    db.execute("CREATE INDEX events_order ON events (shop, order_id) WHERE order_id IS NOT NULL")



@migrations()
def m005_tenancy(db: sqlite_utils.Database) -> None:
    # Each shop's own tracking account and options, as its merchant set them in the app.
    # ``fields`` holds the non-secret account fields (JSON), ``secrets`` the secret ones as one
    # Fernet token (shopify.token_encryption_key), never in clear. ``check_*`` is the last verdict
    # on the account's credentials (a connection test or a delivery); while ``check_ok = 0`` and
    # ``recheck_at`` lies ahead, the shop's deliveries wait (see orders.hold_undeliverable).
    db.execute(
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
        """
    )
    db.execute("CREATE INDEX shop_settings_recheck ON shop_settings (check_ok, recheck_at)")
    # What the merchant sees of an order: its name as Shopify shows it (#1001), its number and
    # when it was placed (Shopify's created_at; first seen until the order body arrives).
    db.execute("ALTER TABLE orders ADD COLUMN name TEXT")
    db.execute("ALTER TABLE orders ADD COLUMN order_number TEXT")
    db.execute("ALTER TABLE orders ADD COLUMN placed_at TEXT")
    db.execute("UPDATE orders SET placed_at = created_at")
    # The merchant's order list: newest first, keyset-paged, per shop and per shop and status.
    db.execute("CREATE INDEX orders_placed ON orders (shop, placed_at, order_id)")
    db.execute("CREATE INDEX orders_status_placed ON orders (shop, status, placed_at, order_id)")
    db.execute("CREATE INDEX orders_name ON orders (shop, name)")
    db.execute("CREATE INDEX orders_number ON orders (shop, order_number)")
    db.execute("CREATE INDEX orders_synced ON orders (shop, last_synced_at)")
    # Held and skipped orders wait far in the future: claims scan only orders that can go now.
    db.execute("DROP INDEX orders_due")
    db.execute(
        "CREATE INDEX orders_due ON orders (has_work, next_attempt_at) WHERE status IN ('pending', 'retrying')"
    )
    # The oldest waiting event of one shop; partial, so a webhook's INSERT (state 'new') pays nothing.
    db.execute(
        "CREATE INDEX events_waiting ON events (shop, received_at) WHERE state IN ('queued', 'held')"
    )
    # One token exchange per shop at a time, across gunicorn workers (two tabs opening the app).
    db.execute(
        """
        CREATE TABLE shop_locks (
            shop TEXT NOT NULL,
            purpose TEXT NOT NULL,
            owner TEXT NOT NULL,
            until TEXT NOT NULL,
            PRIMARY KEY (shop, purpose)
        )
        """
    )
    # A Dev Dashboard app's own client id and secret (client credentials grant), when it is not
    # this app's shopify.api_key/api_secret; the secret encrypted like the tokens.
    db.execute("ALTER TABLE shops ADD COLUMN client_id TEXT")
    db.execute("ALTER TABLE shops ADD COLUMN client_secret TEXT")
    db.execute("ALTER TABLE shops ADD COLUMN renew_after TEXT")

def migrate(db: sqlite_utils.Database) -> None:
    """Apply pending migrations, one process at a time.

    The whole run holds the write lock (BEGIN IMMEDIATE); sqlite-utils nests each step in a
    savepoint, and a process that waited re-reads the applied list under the lock.
    """
    if not migrations.pending(db):
        return
    with write_transaction(db):
        migrations.apply(db)


def known_migrations() -> list[str]:
    """Every migration this version of the connector has, in order."""
    return [m.name for m in migrations.pending(sqlite_utils.Database(memory=True))]


def pending_migrations(path: str) -> list[str]:
    """Migrations not yet applied to the database at ``path``; read only (no file is created)."""
    if not Path(path).is_file():
        return known_migrations()
    # A plain connection that only reads: it changes nothing, and unlike a mode=ro one it can
    # tidy a WAL database's -wal/-shm files away when it closes.
    db = sqlite_utils.Database(sqlite3.connect(path, isolation_level=None))
    try:
        return [m.name for m in migrations.pending(db)]
    finally:
        db.close()
