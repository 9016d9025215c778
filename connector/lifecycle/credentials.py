"""Where the Admin API token and root of a shop come from: the one place to ask.

A custom app's token in ``[shops."<shop>"].access_token``, else the encrypted token an OAuth
install (or ``connector shops add``) stored — refreshed first when it is an expiring one. The
API root is ``shops."<shop>".admin_url`` or ``shopify.admin_base_url_template``.
"""

from __future__ import annotations

from connector.config import Settings
from connector.errors import BadRequestError, ShopNotInstalledError, TokenEncryptionError
from connector.lifecycle.tokens import get_access_token, shop_admin_base
from connector.store.db import Db


def admin_credentials(db: Db, settings: Settings, shop: str) -> tuple[str, str]:
    """``(base_url, token)`` for ``shop``'s Admin API; BadRequestError when there is no token."""
    try:
        token = get_access_token(db, settings, shop)
    except (ShopNotInstalledError, TokenEncryptionError) as exc:
        raise BadRequestError(
            f"no Admin API access token for {shop} ({exc}): install the app through OAuth, run "
            f'`connector shops add`, or set [shops."{shop}"].access_token'
        ) from None
    return shop_admin_base(settings, shop).rstrip("/"), token


def has_admin_credentials(db: Db, settings: Settings, shop: str) -> bool:
    try:
        admin_credentials(db, settings, shop)
    except BadRequestError:
        return False
    return True
