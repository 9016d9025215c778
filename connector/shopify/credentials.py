"""Where the Admin API token and root of a shop come from: the one place to ask.

Today: a custom app's token in ``[shops."<shop>"].access_token`` and an optional ``admin_url``
(a local stand-in in tests). Shops installed through OAuth will keep an encrypted token in the
store; reading it belongs here too, so callers never change.
"""

from __future__ import annotations

from typing import Any

from connector.config import Settings
from connector.errors import BadRequestError


def admin_credentials(db: Any, settings: Settings, shop: str) -> tuple[str, str]:
    """``(base_url, token)`` for ``shop``'s Admin API; BadRequestError when there is no token.

    ``db`` is unused until OAuth-installed shops store their token (then: decrypt it from the
    ``shops`` table, preferring it over the configured one).
    """
    configured = settings.shops.get(shop, {})
    token = str(configured.get("access_token") or "")
    if not token:
        raise BadRequestError(
            f"no Admin API access token for {shop}: install the app through OAuth or set "
            f'[shops."{shop}"].access_token'
        )
    base_url = str(configured.get("admin_url") or f"https://{shop}").rstrip("/")
    return base_url, token


def has_admin_credentials(db: Any, settings: Settings, shop: str) -> bool:
    try:
        admin_credentials(db, settings, shop)
    except BadRequestError:
        return False
    return True
