"""Admin API tokens: stored encrypted, read back, refreshed before they expire.

Expiring offline tokens last 60 minutes and come with a refresh token
(https://shopify.dev/docs/apps/build/authentication-authorization/access-tokens/offline-access-tokens);
Shopify requires them for new public apps. :func:`get_access_token` is what every Admin API
caller uses: it refreshes a token that expires within :data:`REFRESH_MARGIN_S`.
A custom app's token from configuration (``shops."<shop>".access_token``) never expires.
"""

from __future__ import annotations

import logging
from typing import Any

from connector.config import Settings
from connector.crypto import KEY_SETTING, TokenCipher
from connector.errors import ShopifyApiError, ShopNotInstalledError
from connector.shopify.oauth import TokenGrant, admin_base, fetch_refreshed_token
from connector.store import shops as shop_store
from connector.store.db import Db
from connector.store.shops import CLIENT_CREDENTIALS
from connector.timeutil import db_time_in, now_db

log = logging.getLogger(__name__)
REFRESH_MARGIN_S = 300.0  # refresh 5 minutes early: a request must not start with a dying token


def token_cipher(settings: Settings) -> TokenCipher:
    """The configured cipher; raises TokenEncryptionError naming the key when it is missing."""
    return TokenCipher(settings[KEY_SETTING])


def shop_admin_base(settings: Settings, shop: str) -> str:
    """The shop's OAuth/Admin API base: ``shops."<shop>".admin_url`` or the template."""
    return admin_base(settings["shopify.admin_base_url_template"], shop, settings.shops.get(shop, {}).get("admin_url"))


def store_grant(db: Db, settings: Settings, shop: str, grant: TokenGrant, source: str) -> None:
    """Keep a token grant (encrypted) and mark the shop installed."""
    cipher = token_cipher(settings)
    shop_store.save_shop_tokens(
        db,
        shop,
        source,
        access_token=cipher.encrypt(grant.access_token),
        scopes=grant.scope or None,
        refresh_token=cipher.encrypt(grant.refresh_token) if grant.refresh_token else None,
        expires_at=db_time_in(grant.expires_in) if grant.expires_in else None,
    )


def get_access_token(db: Db, settings: Settings, shop: str) -> str:
    """A usable Admin API token for ``shop``; refreshes an expiring one first when due."""
    configured = settings.shops.get(shop, {}).get("access_token")
    if configured:
        return configured
    row = shop_store.get_shop(db, shop)
    if row is None or row["uninstalled_at"] or not row["access_token"]:
        raise ShopNotInstalledError(f"{shop} has no Admin API token: install the app or run `connector shops add`")
    cipher = token_cipher(settings)
    if not row["token_expires_at"] or row["token_expires_at"] > db_time_in(REFRESH_MARGIN_S):
        return cipher.decrypt(row["access_token"])
    if row["source"] == CLIENT_CREDENTIALS:
        return _renew(db, settings, cipher, shop, row)
    if not row["refresh_token"]:
        return cipher.decrypt(row["access_token"])
    return _refresh(db, settings, cipher, shop, row)


def _renew(db: Db, settings: Settings, cipher: TokenCipher, shop: str, row: dict[str, Any]) -> str:
    """A client-credentials token about to expire (the worker renews them long before): renew it
    now; if Shopify refuses, the current token serves until it expires, then the call waits."""
    from connector.lifecycle.client_credentials import renew_token  # it builds on this module

    try:
        return renew_token(db, settings, shop)
    except ShopifyApiError as exc:
        if row["token_expires_at"] > now_db():
            log.warning(
                "token renewal refused (%s); using the current token until it expires", exc.reason, extra={"shop": shop}
            )
            return cipher.decrypt(row["access_token"])
        raise ShopifyApiError(
            f"the Admin API token expired and Shopify refused a new one: {exc.reason}",
            status=exc.status,
            transient=True,
        ) from None


def _refresh(db: Db, settings: Settings, cipher: TokenCipher, shop: str, row: dict[str, Any]) -> str:
    """POST grant_type=refresh_token, then store the result unless another process won the race."""
    try:
        grant = fetch_refreshed_token(
            shop_admin_base(settings, shop),
            settings["shopify.api_key"],
            settings["shopify.api_secret"],
            cipher.decrypt(row["refresh_token"]),
        )
    except ShopifyApiError:
        current = shop_store.get_shop(db, shop)
        if current and current["access_token"] and current["refresh_token"] != row["refresh_token"]:
            return cipher.decrypt(current["access_token"])  # another process refreshed meanwhile
        if current and current["access_token"] and (current["token_expires_at"] or "") > now_db():
            log.warning("token refresh failed; using the current token until it expires", extra={"shop": shop})
            return cipher.decrypt(current["access_token"])
        raise
    stored = shop_store.replace_refreshed_tokens(
        db,
        shop,
        row["refresh_token"],
        cipher.encrypt(grant.access_token),
        cipher.encrypt(grant.refresh_token) if grant.refresh_token else None,
        db_time_in(grant.expires_in) if grant.expires_in else None,
    )
    if not stored:  # refreshed by another process meanwhile, or uninstalled
        current = shop_store.get_shop(db, shop)
        if not current or current["uninstalled_at"] or not current["access_token"]:
            raise ShopNotInstalledError(f"{shop} was uninstalled while its token was refreshed")
        return cipher.decrypt(current["access_token"])
    log.info("access token refreshed", extra={"shop": shop})
    return grant.access_token
