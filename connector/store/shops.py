"""Shops the connector delivers for: installed through OAuth, configured, or the demo shop."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from connector.store.db import Db
from connector.store.rows import query_rows
from connector.timeutil import now_db


def add_shop(
    db: Db,
    shop: str,
    source: str,
    access_token: str | None = None,
    scopes: str | None = None,
) -> None:
    """Mark a shop installed (again); keeps an existing token unless a new one is given."""
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


def sync_config_shops(db: Db, shops: Iterable[str]) -> None:
    """Shops listed under ``[shops."..."]`` in the config are known shops: new ones are added, an
    uninstalled configured shop comes back; a shop installed otherwise is left as it is.

    The write is a conditional upsert, right whatever happened since the read; the read only
    spares every process start the write lock when nothing changes.
    """
    for shop in shops:
        row = db.execute("SELECT uninstalled_at, source FROM shops WHERE shop = ?", [shop]).fetchone()
        if row is None or (row[0] is not None and row[1] == "config"):
            db.execute(
                """
                INSERT INTO shops (shop, source, installed_at) VALUES (?, 'config', ?)
                ON CONFLICT (shop) DO UPDATE SET uninstalled_at = NULL, installed_at = excluded.installed_at
                WHERE shops.uninstalled_at IS NOT NULL AND shops.source = 'config'
                """,
                [shop, now_db()],
            )


def is_known_shop(db: Db, shop: str) -> bool:
    row = db.execute("SELECT 1 FROM shops WHERE shop = ? AND uninstalled_at IS NULL", [shop]).fetchone()
    return row is not None


def known_shops(db: Db) -> set[str]:
    return {row[0] for row in db.execute("SELECT shop FROM shops WHERE uninstalled_at IS NULL")}


def set_scopes(db: Db, shop: str, scopes: str) -> bool:
    """Record the scopes the merchant granted now; False when the shop is unknown."""
    return db.execute("UPDATE shops SET scopes = ? WHERE shop = ?", [scopes, shop]).rowcount == 1


def mark_uninstalled(db: Db, shop: str) -> None:
    """Idempotent: the tokens go, the row and so the shop's history and settings stay. A custom
    app's client secret stays too (it buys no token once the app is uninstalled): its later
    webhooks, ``shop/redact`` above all, are signed with it. It goes with the row."""
    db.execute(
        "UPDATE shops SET uninstalled_at = coalesce(uninstalled_at, ?), access_token = NULL, "
        "refresh_token = NULL, token_expires_at = NULL WHERE shop = ?",
        [now_db(), shop],
    )


def save_shop_tokens(
    db: Db,
    shop: str,
    source: str,
    access_token: str,
    scopes: str | None,
    refresh_token: str | None = None,
    expires_at: str | None = None,
) -> None:
    """Install (or re-authorize) a shop with its tokens, which the caller has encrypted.

    ``installed_at`` becomes now: an ``app/uninstalled`` sent before this moment must not
    delete the new token (see ``connector.lifecycle``).
    """
    db.execute(
        """
        INSERT INTO shops (shop, source, installed_at, access_token, scopes, refresh_token, token_expires_at)
        VALUES (?, ?, ?, ?, ?, ?, ?)
        ON CONFLICT (shop) DO UPDATE SET
            source = excluded.source, installed_at = excluded.installed_at, uninstalled_at = NULL,
            access_token = excluded.access_token, scopes = coalesce(excluded.scopes, shops.scopes),
            refresh_token = excluded.refresh_token, token_expires_at = excluded.token_expires_at,
            renew_after = NULL
        """,
        [shop, source, now_db(), access_token, scopes, refresh_token, expires_at],
    )


def replace_refreshed_tokens(
    db: Db,
    shop: str,
    used_refresh_token: str,
    access_token: str,
    refresh_token: str | None,
    expires_at: str | None,
) -> bool:
    """Store refreshed tokens unless another process already refreshed (compare-and-swap)."""
    cursor = db.execute(
        "UPDATE shops SET access_token = ?, refresh_token = coalesce(?, refresh_token), "
        "token_expires_at = ? WHERE shop = ? AND refresh_token = ? AND uninstalled_at IS NULL",
        [access_token, refresh_token, expires_at, shop, used_refresh_token],
    )
    return cursor.rowcount == 1


def list_shops(db: Db) -> list[dict[str, Any]]:
    """Every shop row, without token values (only whether one is stored)."""
    return query_rows(
        db,
        "SELECT shop, source, installed_at, uninstalled_at, scopes, "
        "CASE WHEN access_token IS NULL THEN 0 ELSE 1 END AS has_token, "
        "CASE WHEN refresh_token IS NULL THEN 0 ELSE 1 END AS expiring, "
        "token_expires_at FROM shops ORDER BY shop",
    )


def get_shop(db: Db, shop: str) -> dict[str, Any] | None:
    rows = query_rows(db, "SELECT * FROM shops WHERE shop = ?", [shop])
    return rows[0] if rows else None


# -- client credentials grant (Dev Dashboard custom apps): 24-hour tokens renewed by the worker --
CLIENT_CREDENTIALS = "client_credentials"


def save_client_credentials(db: Db, shop: str, client_id: str | None, client_secret: str | None) -> None:
    """Keep a shop's own client id and (encrypted) secret, for the renewals; None: the app's own."""
    db.execute("UPDATE shops SET client_id = ?, client_secret = ? WHERE shop = ?", [client_id, client_secret, shop])


def replace_access_token(db: Db, shop: str, access_token: str, expires_at: str | None) -> bool:
    """A renewed token (encrypted by the caller) for an installed shop; False when uninstalled."""
    cursor = db.execute(
        "UPDATE shops SET access_token = ?, token_expires_at = ?, renew_after = NULL "
        "WHERE shop = ? AND uninstalled_at IS NULL",
        [access_token, expires_at, shop],
    )
    return cursor.rowcount == 1


def shops_due_for_renewal(db: Db, renew_before: str) -> list[str]:
    """Installed client-credentials shops whose token expires before ``renew_before`` (or that
    have none) and whose last failed renewal is not being waited out."""
    rows = db.execute(
        f"SELECT shop FROM shops WHERE source = '{CLIENT_CREDENTIALS}' AND uninstalled_at IS NULL "
        "AND (token_expires_at IS NULL OR token_expires_at < ?) AND (renew_after IS NULL OR renew_after <= ?) "
        "ORDER BY shop",
        [renew_before, now_db()],
    ).fetchall()
    return [row[0] for row in rows]


def postpone_renewal(db: Db, shop: str, until: str) -> None:
    db.execute("UPDATE shops SET renew_after = ? WHERE shop = ?", [until, shop])
