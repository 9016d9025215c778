"""Dev Dashboard custom apps: the client credentials grant, and renewing its 24-hour tokens.

Since 2026 a store's own custom apps come from the Dev Dashboard and get their Admin API token
with the client credentials grant: ``POST /admin/oauth/access_token`` with the app's client id
and secret and ``grant_type=client_credentials`` answers a token that expires after 24 hours
(https://shopify.dev/docs/apps/build/authentication-authorization/access-tokens/client-credentials-grant).
The worker renews it well before it expires. When Shopify refuses a renewal for a while, the old
token is used until it expires, events keep arriving and waiting (webhooks need no token), and the
failure is logged and counted (``connector_shopify_token_renewals_total{outcome="failed"}``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial

from connector.config import Settings
from connector.errors import OAuthError, ShopifyApiError
from connector.lifecycle.install import InstallResult, complete_install, release_held
from connector.lifecycle.tokens import shop_admin_base, store_grant, token_cipher
from connector.metrics import TOKEN_RENEWALS
from connector.shopify.domains import is_valid_shop_domain
from connector.shopify.oauth import fetch_client_credentials_token
from connector.store import shops as shop_store
from connector.store.db import Db
from connector.timeutil import db_time_in

log = logging.getLogger(__name__)
RENEW_BEFORE_S = 4 * 3600.0  # renew a 24-hour token once it has less than 4 hours left
RETRY_RENEWAL_S = 300.0  # after a refused renewal, try again this much later
SOURCE = shop_store.CLIENT_CREDENTIALS


def client_credentials(db: Db, settings: Settings, shop: str) -> tuple[str, str]:
    """The shop's client id and secret: its config entry, else the ones stored with
    ``connector shops add --client-credentials``, else this app's ``shopify.api_key``/``api_secret``."""
    entry = settings.shops.get(shop, {})
    if entry.get("client_id"):
        return entry["client_id"], entry["client_secret"]
    row = shop_store.get_shop(db, shop) or {}
    if row.get("client_id") and row.get("client_secret"):
        return row["client_id"], token_cipher(settings).decrypt(row["client_secret"])
    return settings["shopify.api_key"], settings["shopify.api_secret"]


def install_with_client_credentials(
    db: Db,
    settings: Settings,
    shop: str,
    client_id: str | None = None,
    client_secret: str | None = None,
    register: bool = True,
) -> InstallResult:
    """Get a token with the client credentials grant, store it (and a shop's own client
    id/secret, encrypted), subscribe the webhooks, release held events."""
    if not is_valid_shop_domain(shop):
        raise OAuthError("shop must be a name.myshopify.com domain", status=400)
    cipher = token_cipher(settings)
    if client_id and client_secret:
        chosen = (client_id, client_secret)
    else:
        chosen = client_credentials(db, settings, shop)
    if not chosen[0] or not chosen[1]:
        raise OAuthError("no client id and secret: set shopify.api_key/api_secret or give the app's own", status=400)
    grant = fetch_client_credentials_token(shop_admin_base(settings, shop), *chosen)
    if register:
        result = complete_install(db, settings, shop, grant, source=SOURCE)
    else:
        store_grant(db, settings, shop, grant, SOURCE)
        result = InstallResult(shop, grant.scope, release_held(db, shop), None)
    if client_id and client_secret:
        shop_store.save_client_credentials(db, shop, client_id, cipher.encrypt(client_secret))
    TOKEN_RENEWALS.labels(outcome="installed").inc()
    return result


def renew_token(db: Db, settings: Settings, shop: str) -> str:
    """A fresh 24-hour token for ``shop``, stored; ShopifyApiError when Shopify refuses."""
    grant = fetch_client_credentials_token(shop_admin_base(settings, shop), *client_credentials(db, settings, shop))
    expires_at = db_time_in(grant.expires_in) if grant.expires_in else None
    shop_store.replace_access_token(db, shop, token_cipher(settings).encrypt(grant.access_token), expires_at)
    TOKEN_RENEWALS.labels(outcome="renewed").inc()
    log.info("client credentials token renewed", extra={"shop": shop})
    return grant.access_token


def renew_due_tokens(db: Db, settings: Settings) -> dict[str, str]:
    """The worker's pass: install configured client-credentials shops that have no token yet,
    renew tokens close to expiry. Returns shop → outcome (installed, renewed, failed)."""
    outcomes: dict[str, str] = {}
    for shop in _configured_without_token(db, settings):
        ok = _attempt(db, shop, partial(install_with_client_credentials, db, settings, shop))
        outcomes[shop] = "installed" if ok else "failed"
    for shop in shop_store.shops_due_for_renewal(db, db_time_in(RENEW_BEFORE_S)):
        outcomes[shop] = "renewed" if _attempt(db, shop, partial(renew_token, db, settings, shop)) else "failed"
    return outcomes


def _configured_without_token(db: Db, settings: Settings) -> list[str]:
    """``[shops."…"] client_credentials = true`` shops not installed through the grant yet (and not
    waiting out a failed attempt)."""
    out = []
    for shop in sorted(s for s, entry in settings.shops.items() if entry.get("client_credentials")):
        row = shop_store.get_shop(db, shop)
        installed = (
            row is not None and row["source"] == SOURCE and bool(row["access_token"]) and not row["uninstalled_at"]
        )
        waiting = row is not None and bool(row["renew_after"]) and row["renew_after"] > db_time_in(0)
        if not installed and not waiting:
            out.append(shop)
    return out


def _attempt(db: Db, shop: str, call: Callable[[], object]) -> bool:
    """Run one install or renewal; a refusal is logged, counted and tried again later."""
    try:
        call()
    except (ShopifyApiError, OAuthError) as exc:
        shop_store.postpone_renewal(db, shop, db_time_in(RETRY_RENEWAL_S))
        TOKEN_RENEWALS.labels(outcome="failed").inc()
        row = shop_store.get_shop(db, shop) or {}
        log.error(
            "client credentials token not renewed (%s); the current token is used until %s, events wait",
            getattr(exc, "reason", exc),
            row.get("token_expires_at") or "one is granted",
            extra={"shop": shop},
        )
        return False
    return True
