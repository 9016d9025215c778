"""Small key/value facts the connector keeps about itself (e.g. the development secret)."""

from __future__ import annotations

import sqlite_utils

from connector.store.db import write_transaction


def get_value(db: sqlite_utils.Database, key: str) -> str | None:
    row = db.execute("SELECT value FROM app_state WHERE key = ?", [key]).fetchone()
    return row[0] if row else None


def set_value(db: sqlite_utils.Database, key: str, value: str) -> None:
    with write_transaction(db):
        db.execute(
            "INSERT INTO app_state (key, value) VALUES (?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            [key, value],
        )


def get_or_create_value(db: sqlite_utils.Database, key: str, make: "callable[[], str]") -> str:
    """Read ``key``, creating it with ``make()`` under the write lock when absent."""
    with write_transaction(db):
        row = db.execute("SELECT value FROM app_state WHERE key = ?", [key]).fetchone()
        if row:
            return row[0]
        value = make()
        db.execute("INSERT INTO app_state (key, value) VALUES (?, ?)", [key, value])
        return value
