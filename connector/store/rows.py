"""Reading rows as dicts, and the WHERE of the listing queries."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

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
