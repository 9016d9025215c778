"""OAuth ``state`` nonces: created at ``/auth/install``, consumed once at ``/auth/callback``.

Shopify requires the callback's ``state`` to be the nonce the app set, so a callback cannot be
forged or replayed (https://shopify.dev/docs/apps/build/authentication-authorization/access-tokens/authorization-code-grant#step-3-validate-authorization-code).
"""

from __future__ import annotations

import hmac

from connector.store.db import Db
from connector.timeutil import db_time_in, now_db


def create_oauth_state(db: Db, state: str, shop: str, ttl_s: float) -> None:
    """Remember ``state`` for ``shop`` until ``ttl_s`` from now; expired ones are pruned here.

    Two statements, each complete on its own: no transaction needed."""
    db.execute("DELETE FROM oauth_states WHERE expires_at < ?", [now_db()])
    db.execute(
        "INSERT INTO oauth_states (state, shop, created_at, expires_at) VALUES (?, ?, ?, ?)",
        [state, shop, now_db(), db_time_in(ttl_s)],
    )


def consume_oauth_state(db: Db, state: str, shop: str) -> bool:
    """True once for a live ``state`` issued to ``shop``; the nonce is gone afterwards either way.

    One DELETE … RETURNING: of two concurrent callers only one gets the row, in or outside a
    transaction."""
    if not state:
        return False
    row = db.execute("DELETE FROM oauth_states WHERE state = ? RETURNING shop, expires_at", [state]).fetchone()
    if row is None:
        return False
    issued_shop, expires_at = row
    return hmac.compare_digest(issued_shop.encode(), shop.encode()) and expires_at >= now_db()
