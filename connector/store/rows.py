"""Reading rows as dicts without sqlite-utils' per-query savepoint.

sqlite-utils 4 wraps every ``Database.query`` in ``SAVEPOINT``/``RELEASE`` — three statements
per read, a third of the worker's SQL in the delivery hot path. Plain reads need none of that.
"""

from __future__ import annotations

from typing import Any, Sequence

import sqlite_utils


def query_rows(db: sqlite_utils.Database, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
    """All rows of a SELECT as dicts keyed by column name."""
    cursor = db.conn.execute(sql, params)
    columns = [column[0] for column in cursor.description]
    return [dict(zip(columns, row)) for row in cursor.fetchall()]


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
