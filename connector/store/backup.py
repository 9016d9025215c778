"""Backups of the SQLite store while the connector runs, and restoring one.

A backup is SQLite's online backup (https://sqlite.org/backup.html), copied in one step: one
read transaction, so the copy is the database as it was at one instant, while the web app
and the workers go on writing (WAL: readers never block writers). It is written to a
temporary file, checked (``PRAGMA integrity_check``), switched to a self-contained
rollback-journal file and only then renamed into place, so a backup file is never half-written.

Restoring writes a backup into the database through the same API, under SQLite's locks.
"""

from __future__ import annotations

import os
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path

import sqlite_utils

from connector.store.db import connect_sqlite
from connector.store.journal import file_journals
from connector.store.migrations import known_migrations, migrations


class BackupError(Exception):
    """A backup or restore was refused or failed; the message says why and what to do.

    (Defined here, not in connector.errors: the store builds on nothing above it.)"""


@dataclass(frozen=True)
class Snapshot:
    """What a database file holds, in figures an operator can check."""

    path: str
    bytes: int
    events: int
    orders: int
    applied: list[str] = field(default_factory=list)  # migrations, in the order applied

    def describe(self) -> str:
        return (
            f"{self.path}: {self.bytes:,} bytes, {self.events:,} events, {self.orders:,} orders, schema {self.schema}"
        )

    @property
    def schema(self) -> str:
        return self.applied[-1] if self.applied else "empty"


def backup_database(source: str, destination: str, busy_timeout_s: float = 10.0) -> Snapshot:
    """Copy the live database at ``source`` to the new file ``destination``."""
    target = Path(destination)
    if target.exists():
        raise BackupError(f"{target} exists: backups never overwrite a file, choose a new name")
    if not Path(source).exists():
        raise BackupError(f"no database at {source} (database.path)")
    partial = target.with_name(f".{target.name}.partial-{os.getpid()}")
    try:
        _copy(source, str(partial), busy_timeout_s)
        os.replace(partial, target)
        _fsync_directory(target.parent)
    except (sqlite3.Error, OSError) as exc:  # e.g. the backup's disk is full
        raise BackupError(f"backup failed: {exc}") from exc
    finally:
        partial.unlink(missing_ok=True)
    return inspect(str(target))


def _copy(source: str, destination: str, busy_timeout_s: float) -> None:
    live = connect_sqlite(source, busy_timeout_s)
    copy = sqlite3.connect(destination, isolation_level=None)
    try:
        file_journals(live, source, wait=True)  # webhooks already answered belong in the backup
        live.conn.backup(copy)  # pages=-1: every page in one step, one consistent snapshot
        copy.execute("PRAGMA journal_mode = DELETE")  # one file, no -wal beside it
        _check_integrity(copy, destination)
    finally:
        copy.close()
        live.close()
    with open(destination, "rb+") as handle:
        os.fsync(handle.fileno())


def _check_integrity(conn: sqlite3.Connection, path: str) -> None:
    result = conn.execute("PRAGMA integrity_check").fetchone()[0]
    if result != "ok":
        raise BackupError(f"{path} failed SQLite's integrity check: {result}")


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def inspect(path: str) -> Snapshot:
    """Figures of a database or backup file (reading it changes nothing)."""
    if not Path(path).is_file():
        raise BackupError(f"no such file: {path}")
    conn = _reader(path)
    try:
        tables = _tables(conn)
        events, orders = (_count(conn, table) if table in tables else 0 for table in ("events", "orders"))
        applied = [m.name for m in migrations.applied(sqlite_utils.Database(conn))]
        return Snapshot(path, os.path.getsize(path), events, orders, applied)
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"{path} is not a connector database: {exc}") from exc
    finally:
        conn.close()


def _reader(path: str) -> sqlite3.Connection:
    # Not mode=ro: a read-only connection cannot remove a WAL database's -wal/-shm files when it
    # closes; a plain one that only reads leaves the file as it was.
    return sqlite3.connect(path, isolation_level=None)


def _tables(conn: sqlite3.Connection) -> set[str]:
    return {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def _count(conn: sqlite3.Connection, table: str) -> int:
    return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])  # table: from sqlite_master


def database_in_use(path: str) -> bool:
    """Whether another connection has the database open (a running web app or worker).

    Leaving WAL mode needs the only connection to the file: SQLite refuses while any other is
    open. The probe switches to the rollback journal and straight back.
    """
    conn = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        mode = conn.execute("PRAGMA journal_mode = DELETE").fetchone()[0]
    except sqlite3.OperationalError:
        return True
    else:
        if mode.lower() == "delete":
            conn.execute("PRAGMA journal_mode = WAL")
        return mode.lower() != "delete"
    finally:
        conn.close()


def restore_database(backup: str, destination: str, force: bool = False) -> tuple[Snapshot, str | None]:
    """Write ``backup`` into the database at ``destination``.

    An existing database is replaced only with ``force``, and a copy of it is kept first (its
    path is returned). A backup made by a newer version of the connector (migrations this one
    does not know) is refused without ``force``: this code may not understand its schema.
    """
    wanted = inspect(backup)
    if not wanted.applied:
        raise BackupError(f"{backup} holds no connector data (no migrations applied)")
    newer = sorted(set(wanted.applied) - set(known_migrations()))
    if newer and not force:
        raise BackupError(
            f"{backup} was made by a newer connector (migrations {', '.join(newer)}): "
            "restore it with that version, or pass --force"
        )
    kept = _keep_current(destination, force)
    source = _reader(backup)
    live = connect_sqlite(destination)
    try:
        source.backup(live.conn)
        _check_integrity(live.conn, destination)
    except sqlite3.Error as exc:
        raise BackupError(f"restore failed: {exc}") from exc
    finally:
        source.close()
        live.close()
    return inspect(destination), kept


def _keep_current(destination: str, force: bool) -> str | None:
    """Refuse to replace a database without ``force``; with it, back the current one up first."""
    if not Path(destination).exists() or Path(destination).stat().st_size == 0:
        return None
    in_use = database_in_use(destination)
    if not force:
        state = "is in use: stop the web app and every worker first, then" if in_use else "exists:"
        raise BackupError(
            f"the database at {destination} {state} pass --force to replace it (a copy of it is kept beside it)"
        )
    kept = f"{destination}.before-restore-{time.strftime('%Y%m%dT%H%M%S')}"
    backup_database(destination, kept)
    return kept
