"""Small key/value facts the connector keeps about itself (e.g. the development secret)."""

from __future__ import annotations

from collections.abc import Callable

from connector.store.db import Db


def get_value(db: Db, key: str) -> str | None:
    row = db.execute("SELECT value FROM app_state WHERE key = ?", [key]).fetchone()
    return row[0] if row else None


def set_value(db: Db, key: str, value: str) -> None:
    db.execute(
        "INSERT INTO app_state (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        [key, value],
    )


def get_or_create_value(db: Db, key: str, make: Callable[[], str]) -> str:
    """Read ``key``, storing ``make()`` first when it is absent; concurrent callers all get the
    value of the one whose INSERT landed first."""
    db.execute("INSERT INTO app_state (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING", [key, make()])
    value = get_value(db, key)
    assert value is not None  # just inserted, or already there
    return value


def read_probe(db: Db) -> None:
    """One cheap read for ``/readyz``: the store opens and its schema is there (raises otherwise)."""
    db.execute("SELECT 1 FROM app_state LIMIT 1").fetchall()
