"""Reading rows as dicts, the WHERE of the listing queries, and many-row updates in key order."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from connector.store.db import Db


def query_rows(db: Db, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
    """All rows of a SELECT as dicts keyed by column name (no per-read savepoint on SQLite)."""
    return db.query_rows(sql, params)


def where_equal(*conditions: str, **filters: Any) -> tuple[str, list[Any]]:
    """``WHERE`` for listing queries: fixed ``conditions`` plus ``column = ?`` for each filter
    that is set (None or empty means "any"). Column names come from our code, never from input."""
    clauses = list(conditions)
    params: list[Any] = []
    for column, value in filters.items():
        if value:
            clauses.append(f"{column} = ?")
            params.append(value)
    return (f"WHERE {' AND '.join(clauses)}" if clauses else ""), params


def update_in_key_order(
    db: Db,
    table: str,
    key: str,
    assignments: str,
    where: str,
    set_params: Sequence[Any] = (),
    where_params: Sequence[Any] = (),
) -> int:
    """``UPDATE table SET assignments WHERE where``, with the rows locked in ``key`` order first;
    returns how many rows changed. One statement, in or outside a transaction.

    On PostgreSQL a plain many-row UPDATE locks rows in whatever order its scan meets them, so
    it can deadlock with a transaction that locks some of the same rows in another order (the
    server then aborts one of them). Every writer of several orders locks them in key order —
    triage, replay, these updates — so they queue behind each other instead. SQLite's write lock
    already serialises them (the lock suffix is empty there)."""
    sql = (
        f"WITH chosen AS MATERIALIZED (SELECT {key} FROM {table} WHERE {where} ORDER BY {key}{db.dialect.lock()}) "
        f"UPDATE {table} SET {assignments} WHERE ({key}) IN (SELECT {key} FROM chosen) AND {where} RETURNING 1"
    )
    # Counted from RETURNING: Python's sqlite3 reports no rowcount for a statement starting WITH.
    return len(db.execute(sql, [*where_params, *set_params, *where_params]).fetchall())
