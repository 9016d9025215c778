"""Each shop's own tracking account and options, and the last verdict on its credentials.

One row per shop (``shop_settings``). The account's secret fields arrive here already encrypted
(``connector.accounts``); this module only reads and writes rows. Times are computed in Python.
"""

from __future__ import annotations

import json
from typing import Any

from connector.store.db import Db
from connector.store.rows import query_rows
from connector.timeutil import now_db


def get_shop_settings(db: Db, shop: str, for_update: bool = False) -> dict[str, Any] | None:
    """The shop's row with ``fields`` and ``options`` decoded (``secrets`` stays ciphertext).
    ``for_update``: the caller's transaction writes it next (locks the row on PostgreSQL)."""
    lock = db.dialect.lock() if for_update else ""
    rows = query_rows(db, f"SELECT * FROM shop_settings WHERE shop = ?{lock}", [shop])
    if not rows:
        return None
    row = rows[0]
    row["fields"] = json.loads(row["fields"] or "{}")
    row["options"] = json.loads(row["options"] or "{}")
    return row


def save_shop_settings(
    db: Db,
    shop: str,
    kind: str | None,
    fields: dict[str, Any],
    secrets: str | None,
    options: dict[str, Any],
    reset_check: bool,
) -> None:
    """Store the merchant's account (``kind`` None: none) and options. ``reset_check`` forgets
    the last credential verdict (new credentials have not been judged yet)."""
    now = now_db()
    check = "NULL" if reset_check else "shop_settings.check_ok"
    db.execute(
        f"""
        INSERT INTO shop_settings (shop, kind, fields, secrets, options, paused, updated_at)
        VALUES (?, ?, ?, ?, ?, ?, ?)
        ON CONFLICT (shop) DO UPDATE SET
            kind = excluded.kind, fields = excluded.fields, secrets = excluded.secrets,
            options = excluded.options, paused = excluded.paused, updated_at = excluded.updated_at,
            check_ok = {check},
            check_message = CASE WHEN {int(reset_check)} = 1 THEN NULL ELSE shop_settings.check_message END,
            checked_at = CASE WHEN {int(reset_check)} = 1 THEN NULL ELSE shop_settings.checked_at END,
            recheck_at = CASE WHEN {int(reset_check)} = 1 THEN NULL ELSE shop_settings.recheck_at END
        """,
        [
            shop,
            kind,
            json.dumps(fields, sort_keys=True),
            secrets,
            json.dumps(options, sort_keys=True),
            int(bool(options.get("paused"))),
            now,
        ],
    )


def record_account_check(db: Db, shop: str, ok: bool, message: str, recheck_at: str | None = None) -> None:
    """Keep the verdict on the shop's credentials. A failing one with ``recheck_at`` holds the
    shop's deliveries until then; a good one releases them (the caller releases held orders)."""
    now = now_db()
    db.execute(
        """
        INSERT INTO shop_settings (shop, check_ok, check_message, checked_at, recheck_at, updated_at)
        VALUES (?, ?, ?, ?, ?, ?)
        ON CONFLICT (shop) DO UPDATE SET
            check_ok = excluded.check_ok, check_message = excluded.check_message,
            checked_at = excluded.checked_at, recheck_at = excluded.recheck_at
        """,
        [shop, int(ok), message[:500], now, None if ok else recheck_at, now],
    )


def shops_due_for_recheck(db: Db) -> list[str]:
    """Shops whose failing account waited its ``recheck_at`` out: time to try it again."""
    rows = db.execute(
        "SELECT shop FROM shop_settings WHERE check_ok = 0 AND recheck_at IS NOT NULL AND recheck_at <= ?",
        [now_db()],
    ).fetchall()
    return [row[0] for row in rows]


def start_recheck(db: Db, shops: list[str] | None = None) -> None:
    """Let a failing account be tried again now (``recheck_at`` NULL: not holding); the verdict
    stays until a delivery or a test gives a new one. All failing accounts when ``shops`` is None."""
    if shops is None:
        db.execute("UPDATE shop_settings SET recheck_at = NULL WHERE check_ok = 0")
        return
    for shop in shops:
        db.execute("UPDATE shop_settings SET recheck_at = NULL WHERE shop = ? AND check_ok = 0", [shop])
