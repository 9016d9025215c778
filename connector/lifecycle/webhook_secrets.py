"""The client secret a shop's own custom app signs its webhooks with.

Shopify signs a webhook with the secret of the app whose subscription sent it
(https://shopify.dev/docs/apps/build/webhooks/subscribe/https#step-5-verify-the-webhook). A Dev
Dashboard custom app added with its own client id (``connector shops add SHOP
--client-credentials --client-id …``, or ``client_id``/``client_secret`` in the shop's entry)
subscribes through its own token, so its webhooks carry *its* signature, not ``shopify.api_secret``'s.
The receiver tries this secret only after the app's own secrets failed, for the shop the request
names; the HMAC then proves the request, as for every webhook. The stored secret outlives an
uninstall so that ``shop/redact``, sent 48 hours later, is still accepted; it goes with the shop.
"""

from __future__ import annotations

from connector.config import Settings
from connector.errors import ConnectorError
from connector.lifecycle.tokens import token_cipher
from connector.shopify.domains import is_valid_shop_domain
from connector.store.db import Db
from connector.store.shops import get_shop


def own_app_secrets(db: Db, settings: Settings, shop: str | None) -> tuple[str, ...]:
    """The shop's custom-app client secret (its entry's, else the stored one), or ()."""
    shop = (shop or "").strip().lower()
    if not is_valid_shop_domain(shop):
        return ()
    entry = settings.shops.get(shop, {})
    if entry.get("client_secret"):
        return (entry["client_secret"],)
    row = get_shop(db, shop)
    if not row or not row.get("client_secret"):
        return ()
    try:
        return (token_cipher(settings).decrypt(row["client_secret"]),)
    except ConnectorError:  # the key changed without keeping the old one: `connector check` says so
        return ()
