"""Installing the app on a shop: OAuth or a custom app's token, then webhook subscriptions.

Install follows Shopify's authorization-code grant
(https://shopify.dev/docs/apps/build/authentication-authorization/access-tokens/authorization-code-grant):
check the shop domain (anchored), the request HMAC, the timestamp and the single-use ``state``,
exchange the code for an offline token, store it encrypted, subscribe the webhooks, release the
events that were held while the shop was unknown. Every step is safe to repeat.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass

from connector.config import Settings
from connector.errors import OAuthError
from connector.lifecycle.tokens import get_access_token, shop_admin_base, store_grant, token_cipher
from connector.shopify.domains import is_valid_shop_domain
from connector.shopify.oauth import TokenGrant, authorize_url, fetch_access_token
from connector.shopify.subscriptions import SubscriptionReport, ensure_subscriptions, subscribed_topics, webhook_address
from connector.shopify.verify import is_fresh_timestamp, verify_oauth_hmac
from connector.store.db import Db, write_transaction
from connector.store.events import release_held_events
from connector.store.holds import release_held_orders
from connector.store.oauth_states import consume_oauth_state, create_oauth_state
from connector.store.shops import save_client_credentials

log = logging.getLogger(__name__)
STATE_TTL_S = 600.0  # the merchant has ten minutes on Shopify's grant screen
CALLBACK_PATH = "/auth/callback"
INSTALL_SETTINGS = ("shopify.api_key", "shopify.api_secret", "shopify.app_url", "shopify.token_encryption_key")


@dataclass(frozen=True)
class InstallResult:
    shop: str
    scopes: str
    released: int
    subscriptions: SubscriptionReport | None
    subscription_error: str | None = None


def _secrets(settings: Settings) -> tuple[str, ...]:
    return tuple(s for s in (settings["shopify.api_secret"], settings["shopify.previous_api_secret"]) if s)


def _check_configured(settings: Settings) -> None:
    missing = [name for name in INSTALL_SETTINGS if not settings[name]]
    if missing:
        raise OAuthError(f"the app is not configured for installs: set {', '.join(missing)}", status=503)
    token_cipher(settings)  # a malformed key stops the install before the merchant grants anything


def _check_signed_request(settings: Settings, params: Mapping[str, str]) -> str:
    """Shop domain (anchored), HMAC, timestamp — in that order, before anything is trusted."""
    shop = (params.get("shop") or "").strip().lower()
    if not is_valid_shop_domain(shop):
        raise OAuthError("shop must be a name.myshopify.com domain", status=400)
    if not verify_oauth_hmac(params, _secrets(settings)):
        raise OAuthError("invalid or missing hmac", status=401)
    if not is_fresh_timestamp(params.get("timestamp"), time.time()):
        raise OAuthError("timestamp missing or outside the allowed clock tolerance", status=401)
    return shop


def begin_install(db: Db, settings: Settings, params: Mapping[str, str]) -> str:
    """Validate ``/auth/install`` and return Shopify's authorize URL with a fresh ``state``."""
    _check_configured(settings)
    shop = _check_signed_request(settings, params)
    state = secrets.token_urlsafe(32)
    create_oauth_state(db, state, shop, STATE_TTL_S)
    redirect_uri = settings["shopify.app_url"].rstrip("/") + CALLBACK_PATH
    return authorize_url(
        shop_admin_base(settings, shop), settings["shopify.api_key"], settings["shopify.scopes"], redirect_uri, state
    )


def finish_install(db: Db, settings: Settings, params: Mapping[str, str]) -> InstallResult:
    """Validate ``/auth/callback``, exchange the code, store the token, subscribe, release."""
    _check_configured(settings)
    shop = _check_signed_request(settings, params)
    # Only after the HMAC: a forged callback must not be able to burn a real nonce.
    if not consume_oauth_state(db, params.get("state") or "", shop):
        raise OAuthError("unknown, expired or already used state: start the install again", status=403)
    code = params.get("code") or ""
    if not code:
        raise OAuthError("missing code", status=400)
    grant = fetch_access_token(
        shop_admin_base(settings, shop),
        settings["shopify.api_key"],
        settings["shopify.api_secret"],
        code,
        expiring=settings["shopify.expiring_offline_tokens"],
    )
    _warn_missing_scopes(settings, shop, grant)
    return complete_install(db, settings, shop, grant, source="oauth")


def _warn_missing_scopes(settings: Settings, shop: str, grant: TokenGrant) -> None:
    wanted = {s.strip() for s in settings["shopify.scopes"].split(",") if s.strip()}
    granted = {s.strip() for s in grant.scope.split(",") if s.strip()}
    # write_x implies read_x (https://shopify.dev/docs/api/usage/access-scopes)
    granted |= {"read_" + s[len("write_") :] for s in granted if s.startswith("write_")}
    if wanted - granted:
        log.warning("granted scopes lack %s", ",".join(sorted(wanted - granted)), extra={"shop": shop})


def complete_install(db: Db, settings: Settings, shop: str, grant: TokenGrant, source: str) -> InstallResult:
    """Store the token, subscribe the webhooks, release held events. Subscription failures are
    reported, not fatal: the token is kept and ``connector register-webhooks`` retries."""
    store_grant(db, settings, shop, grant, source)
    report, error = None, None
    if settings["shopify.app_url"]:
        try:
            report = register_webhooks(db, settings, shop)
        except Exception as exc:  # noqa: BLE001 - reported to the operator, install stays valid
            error = str(getattr(exc, "reason", exc))
            log.error("webhook subscriptions failed: %s", error, extra={"shop": shop})
    else:
        error = "shopify.app_url is not set: no webhook address to subscribe"
    released = release_held(db, shop)
    log.info("shop installed (%s); %d held events released", source, released, extra={"shop": shop})
    return InstallResult(shop, grant.scope, released, report, error)


def release_held(db: Db, shop: str) -> int:
    """The shop is installed (again): its events kept aside go to triage, its orders that waited
    for the install are due again (they are held once more if it has no account yet)."""
    with write_transaction(db):
        released = release_held_events(db, shop)
        release_held_orders(db, shop)
    return released


def register_webhooks(db: Db, settings: Settings, shop: str) -> SubscriptionReport:
    """Subscribe ``shop`` to every topic the connector needs (keeps existing ones)."""
    if not settings["shopify.app_url"]:
        raise OAuthError("shopify.app_url is required: it is the webhook address", status=503)
    token = get_access_token(db, settings, shop)
    return ensure_subscriptions(
        shop_admin_base(settings, shop),
        settings["shopify.api_version"],
        token,
        webhook_address(settings["shopify.app_url"]),
        subscribed_topics(),
    )


def add_custom_app(
    db: Db, settings: Settings, shop: str, token: str, register: bool, app_secret: str | None = None
) -> InstallResult:
    """A custom (merchant-created) app's Admin API token: the same result as an OAuth install.
    ``app_secret``, the app's API secret key, signs its webhooks: stored (encrypted) before they
    are subscribed (:mod:`connector.lifecycle.webhook_secrets`)."""
    if not is_valid_shop_domain(shop):
        raise OAuthError("shop must be a name.myshopify.com domain", status=400)
    if not token or token != token.strip():
        raise OAuthError("the access token is empty or has surrounding spaces", status=400)
    grant = TokenGrant(access_token=token, scope="")
    if app_secret:
        store_grant(db, settings, shop, grant, "custom")
        save_client_credentials(db, shop, None, token_cipher(settings).encrypt(app_secret))
    if register:
        return complete_install(db, settings, shop, grant, source="custom")
    store_grant(db, settings, shop, grant, "custom")
    return InstallResult(shop, "", release_held(db, shop), None)
