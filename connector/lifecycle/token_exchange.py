"""Managed installation: a shop's first verified request trades its ID token for an offline token.

Shopify installs an embedded app itself and opens it with an ID token; there is no OAuth
callback (https://shopify.dev/docs/apps/build/authentication-authorization/access-tokens/token-exchange).
So when a verified ``/app`` or ``/app/api`` request comes from a shop with no usable offline
token — a fresh install, a reinstall after uninstall, a refresh token that no longer works — the
ID token is exchanged for an (expiring) offline token, which is stored encrypted with its refresh
token; then the webhooks are subscribed, the shop is marked installed (source
``token_exchange``) and its held events are released, exactly as an OAuth install does.

Idempotent: one exchange per shop at a time across processes (a short lock in the store); two tabs
opening the app at once exchange once, the second waits for the first and finds the token.
"""

from __future__ import annotations

import logging
import time
import uuid

from connector.config import Settings
from connector.errors import ShopifyApiError, ShopNotInstalledError
from connector.lifecycle.install import InstallResult, complete_install
from connector.lifecycle.tokens import get_access_token, shop_admin_base
from connector.shopify.oauth import exchange_id_token
from connector.shopify.session_token import SessionToken
from connector.store.db import Db
from connector.store.shop_locks import release_shop_lock, take_shop_lock
from connector.store.shops import get_shop
from connector.timeutil import now_db

log = logging.getLogger(__name__)
LOCK = "token_exchange"
LOCK_S = 30.0  # longer than an exchange with its retries, short enough if a process dies holding it
WAIT_S = 12.0  # how long a second request waits for the first one's exchange
REQUIRED = ("shopify.api_key", "shopify.api_secret", "shopify.token_encryption_key")
# Shops whose Admin API access the operator provides, not Shopify's managed installation.
OPERATOR_SOURCES = frozenset({"client_credentials", "custom"})


def needs_offline_token(db: Db, settings: Settings, shop: str) -> bool:
    """True when the shop has no usable offline token and none comes from the operator."""
    entry = settings.shops.get(shop, {})
    if entry.get("access_token") or entry.get("client_credentials"):
        return False
    row = get_shop(db, shop)
    if row is None or row["uninstalled_at"] or not row["access_token"]:
        return True
    if row["source"] in OPERATOR_SOURCES or not row["token_expires_at"] or row["token_expires_at"] > now_db():
        return False
    if not row["refresh_token"]:
        return True  # expired, and nothing to refresh it with
    return _refresh_fails_for_good(db, settings, shop)


def _refresh_fails_for_good(db: Db, settings: Settings, shop: str) -> bool:
    """An expired token: refresh it now; only a refusal (not a blip) calls for a new exchange."""
    try:
        get_access_token(db, settings, shop)
    except ShopifyApiError as exc:
        if exc.transient:
            raise
        log.warning("the refresh token was refused; exchanging the ID token again", extra={"shop": shop})
        return True
    except ShopNotInstalledError:
        return True
    return False


def ensure_offline_access(db: Db, settings: Settings, session: SessionToken) -> InstallResult | None:
    """Exchange ``session``'s ID token when its shop needs an offline token; None when not needed.

    Raises SessionTokenError when Shopify calls the ID token stale (``invalid_subject_token``) and
    ShopifyApiError when Shopify fails (``transient`` for 429/5xx after the retries).
    """
    shop = session.shop
    if not needs_offline_token(db, settings, shop):
        return None
    missing = [name for name in REQUIRED if not settings[name]]
    if missing:
        log.warning("cannot install through token exchange: set %s", ", ".join(missing), extra={"shop": shop})
        return None
    owner = uuid.uuid4().hex
    deadline = time.monotonic() + WAIT_S
    while not take_shop_lock(db, shop, LOCK, owner, LOCK_S):
        # Another request (a second tab, another gunicorn worker) is exchanging right now: wait
        # for its token; if it gives up, the lock is free and this one tries.
        time.sleep(0.1)
        if not needs_offline_token(db, settings, shop):
            return None
        if time.monotonic() > deadline:
            raise ShopifyApiError("another request is still installing the app; try again", transient=True)
    try:
        if not needs_offline_token(db, settings, shop):
            return None
        grant = exchange_id_token(
            shop_admin_base(settings, shop),
            settings["shopify.api_key"],
            settings["shopify.api_secret"],
            session.token,
            expiring=settings["shopify.expiring_offline_tokens"],
        )
        result = complete_install(db, settings, shop, grant, source="token_exchange")
    finally:
        release_shop_lock(db, shop, LOCK, owner)
    log.info("installed through token exchange (managed installation)", extra={"shop": shop})
    return result
