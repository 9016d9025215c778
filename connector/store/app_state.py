"""Small key/value facts the connector keeps about itself (e.g. the development secret)."""

from __future__ import annotations

from typing import Callable

import sqlite_utils

from connector.timeutil import now_db

READY_PROBE_KEY = "ready_probe"


def get_value(db: sqlite_utils.Database, key: str) -> str | None:
    row = db.execute("SELECT value FROM app_state WHERE key = ?", [key]).fetchone()
    return row[0] if row else None


def set_value(db: sqlite_utils.Database, key: str, value: str) -> None:
    db.execute(
        "INSERT INTO app_state (key, value) VALUES (?, ?) "
        "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        [key, value],
    )


def get_or_create_value(db: sqlite_utils.Database, key: str, make: Callable[[], str]) -> str:
    """Read ``key``, storing ``make()`` first when it is absent; concurrent callers all get the
    value of the one whose INSERT landed first."""
    db.execute("INSERT INTO app_state (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING", [key, make()])
    value = get_value(db, key)
    assert value is not None  # just inserted, or already there
    return value


def record_ready_probe(db: sqlite_utils.Database) -> None:
    """A tiny write for ``/readyz``: it fails when the store cannot take writes."""
    db.execute(
        "INSERT INTO app_state (key, value) VALUES (?, ?) "
        "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        [READY_PROBE_KEY, now_db()],
    )
