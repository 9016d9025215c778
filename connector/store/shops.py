"""Shops the connector delivers for: installed through OAuth, configured, or the demo shop."""

from __future__ import annotations

from typing import Any, Iterable

import sqlite_utils

from connector.db import write_transaction
from connector.timeutil import now_db


def add_shop(
    db: sqlite_utils.Database, shop: str, source: str, access_token: str | None = None,
    scopes: str | None = None,
) -> None:
    """Mark a shop installed (again); keeps an existing token unless a new one is given."""
    with write_transaction(db):
        db.execute(
            """
            INSERT INTO shops (shop, source, installed_at, access_token, scopes)
            VALUES (?, ?, ?, ?, ?)
            ON CONFLICT (shop) DO UPDATE SET
                source = excluded.source,
                uninstalled_at = NULL,
                installed_at = CASE WHEN shops.uninstalled_at IS NULL THEN shops.installed_at
                                    ELSE excluded.installed_at END,
                access_token = coalesce(excluded.access_token, shops.access_token),
                scopes = coalesce(excluded.scopes, shops.scopes)
            """,
            [shop, source, now_db(), access_token, scopes],
        )


def sync_config_shops(db: sqlite_utils.Database, shops: Iterable[str]) -> None:
    """Shops listed under ``[shops."..."]`` in the config are known shops."""
    for shop in shops:
        row = db.execute("SELECT uninstalled_at, source FROM shops WHERE shop = ?", [shop]).fetchone()
        if row is None or (row[0] is not None and row[1] == "config"):
            add_shop(db, shop, "config")


def is_known_shop(db: sqlite_utils.Database, shop: str) -> bool:
    row = db.execute(
        "SELECT 1 FROM shops WHERE shop = ? AND uninstalled_at IS NULL", [shop]
    ).fetchone()
    return row is not None


def known_shops(db: sqlite_utils.Database) -> set[str]:
    return {row[0] for row in db.execute("SELECT shop FROM shops WHERE uninstalled_at IS NULL")}


def mark_uninstalled(db: sqlite_utils.Database, shop: str) -> None:
    """Idempotent: the token goes, the row (and so the shop's history) stays."""
    with write_transaction(db):
        db.execute(
            "UPDATE shops SET uninstalled_at = coalesce(uninstalled_at, ?), access_token = NULL, "
            "refresh_token = NULL, token_expires_at = NULL WHERE shop = ?",
            [now_db(), shop],
        )


def get_shop(db: sqlite_utils.Database, shop: str) -> dict[str, Any] | None:
    rows = list(db.query("SELECT * FROM shops WHERE shop = ?", [shop]))
    return rows[0] if rows else None
