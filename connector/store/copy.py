"""Moving an install: copy a SQLite store into an empty PostgreSQL store, whole and checked.

Every table of the connector (events and their raw bodies, sync state, parts, attempts, dead
letters, shops with their encrypted tokens, jobs, data requests, app state, and whatever tables
later migrations add) is copied in one PostgreSQL transaction: the target holds all of it or
nothing. Ids are kept (so event ids in the sync state still point at their events) and the
target's id sequences continue after them. The source is read in one snapshot. Event rows
arrive with their empty ``body`` and ``event_bodies`` rows as they are: PostgreSQL has no
trigger that would move a body (see ``Dialect.body_trigger``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from connector.store.db import Db, SqliteDb, write_transaction
from connector.store.migrations import migrate

BATCH = 500


class CopyError(Exception):
    """The copy cannot start (or its check failed); the target was left untouched."""


@dataclass
class CopyReport:
    counts: dict[str, int] = field(default_factory=dict)  # rows per table, equal in both stores

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def data_tables(db: Db) -> list[str]:
    """The connector's tables in a SQLite store (not SQLite's own, not the migration record),
    each after the tables its foreign keys refer to (``events`` before ``event_bodies``): the
    target checks every row's reference as it is inserted."""
    rows = db.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' "
        "AND name != ? ORDER BY name",
        [db.dialect.migrations_table],
    )
    names = [row[0] for row in rows]
    refers_to = {name: {row[2] for row in db.execute(f"PRAGMA foreign_key_list({name})")} - {name} for name in names}
    ordered: list[str] = []
    while len(ordered) < len(names):
        ready = [name for name in names if name not in ordered and refers_to[name] <= set(ordered)]
        if not ready:
            raise CopyError(f"foreign keys refer in a circle among {sorted(set(names) - set(ordered))}")
        ordered += ready
    return ordered


def copy_store(source: Db, target: Db) -> CopyReport:
    """Copy ``source`` (SQLite) into ``target`` (PostgreSQL, empty); the counts are checked."""
    if not isinstance(source, SqliteDb) or target.dialect.name != "postgresql":
        raise CopyError("copy goes from a SQLite store to a PostgreSQL store")
    migrate(source)
    migrate(target)
    tables = data_tables(source)
    report = CopyReport()
    source.conn.execute("BEGIN")  # one snapshot of the source (WAL)
    try:
        with write_transaction(target):
            for table in tables:
                if target.execute(f"SELECT 1 FROM {table} LIMIT 1").fetchone() is not None:
                    raise CopyError(f"the target is not empty (table {table} has rows): copy only into a new database")
            for table in tables:
                report.counts[table] = _copy_table(source, target, table)
                target.dialect.continue_ids(target, table)
            for table in tables:
                copied = target.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
                if copied != report.counts[table]:  # rolls the whole copy back
                    raise CopyError(f"{table}: {report.counts[table]} rows read, {copied} in the target")
    finally:
        source.conn.execute("ROLLBACK")  # a read: nothing to keep
    return report


def _copy_table(source: SqliteDb, target: Db, table: str) -> int:
    columns = [row[1] for row in source.execute(f"PRAGMA table_info({table})")]
    wanted = set(target.dialect.columns(target, table))
    missing = [c for c in columns if c not in wanted]
    if missing:
        raise CopyError(f"{table}: the target has no column {', '.join(missing)} (is it an older connector version?)")
    names = ", ".join(columns)
    one_row = "(" + ", ".join("?" for _ in columns) + ")"
    copied = 0
    cursor = source.conn.execute(f"SELECT {names} FROM {table} ORDER BY rowid")
    while batch := cursor.fetchmany(BATCH):
        values: list[Any] = [value for row in batch for value in row]
        target.execute(f"INSERT INTO {table} ({names}) VALUES {', '.join(one_row for _ in batch)}", values)
        copied += len(batch)
    return copied
