"""The embedded app's document requests: bounce page URL, admin URL, security headers. Pure, no I/O.

Mirrors Shopify's own libraries:

- shopifyapp (``verify/app_home_req.py``): a page request without a valid ``id_token`` goes to
  the patch-ID-token ("bounce") page with the original query minus ``id_token`` plus
  ``shopify-reload``; App Bridge there fetches a fresh token and reloads that URL.
- shopify-app-js (``ensure-app-is-embedded-if-required.ts``, ``get-embedded-app-url.ts``,
  ``shop-validator.ts``): opened outside the admin (``embedded`` ≠ 1), the browser goes into the
  admin at ``https://<decoded host>/apps/<api key>``, once ``host`` is known to be Shopify's.
"""

from __future__ import annotations

import base64
import binascii
import re
from urllib.parse import quote

from connector.shopify.domains import is_valid_shop_domain

APP_BRIDGE_URL = "https://cdn.shopify.com/shopifycloud/app-bridge.js"
POLARIS_URL = "https://cdn.shopify.com/shopifycloud/polaris.js"
PATCH_ID_TOKEN_PATH = "/auth/patch-id-token"
ADMIN_ORIGIN = "https://admin.shopify.com"

# Preconnect/preload as Shopify's libraries send them: App Bridge must run first, so fetch it early.
LINK_HEADER = (
    f'<https://cdn.shopify.com>; rel="preconnect", <{APP_BRIDGE_URL}>; rel="preload"; as="script", '
    f'<{POLARIS_URL}>; rel="preload"; as="script"'
)

_BASE64 = re.compile(r"\A[0-9a-zA-Z+/]+={0,2}\Z")
# A decoded host is an admin address: admin.shopify.com/store/<name> or <shop>.myshopify.com/admin.
_ADMIN_PATH = re.compile(r"\A(/[a-zA-Z0-9][a-zA-Z0-9_-]*)*\Z")


def remove_query_param(raw_query: str, name: str) -> str:
    """``raw_query`` without ``name=...``, every other byte as it came (no decode/re-encode)."""
    return re.sub(r"(?:^|&)" + re.escape(name) + r"=[^&]*", "", raw_query).lstrip("&")


def bounce_url(path: str, raw_query: str) -> str:
    """Where a page request without a valid ID token goes: the patch-ID-token page.

    Relative, so it works behind any proxy: the browser resolves it against the app's own origin.
    """
    query = remove_query_param(raw_query, "id_token")
    reload_target = path + ("?" + query if query else "")
    reload_param = "shopify-reload=" + quote(reload_target, safe="")
    return f"{PATCH_ID_TOKEN_PATH}?{query + '&' if query else ''}{reload_param}"


def decode_host(host: str | None) -> str | None:
    """The admin address in Shopify's base64 ``host`` parameter, or None unless it is Shopify's."""
    if not host or len(host) > 512 or not _BASE64.match(host):
        return None
    try:
        decoded = base64.b64decode(host + "=" * (-len(host) % 4), validate=True).decode("ascii")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    hostname, slash, path = decoded.partition("/")
    if hostname != "admin.shopify.com" and not is_valid_shop_domain(hostname):
        return None
    if not _ADMIN_PATH.match(slash + path.rstrip("/")):
        return None
    return decoded.rstrip("/")


def embedded_app_url(api_key: str, host: str | None, shop: str | None) -> str | None:
    """The app inside the admin, from a validated ``host`` (else a valid ``shop``), else None."""
    admin = decode_host(host)
    if admin:
        return f"https://{admin}/apps/{quote(api_key, safe='')}"
    if shop and is_valid_shop_domain(shop):
        return f"https://{shop.lower()}/admin/apps/{quote(api_key, safe='')}"
    return None


def content_security_policy(shop: str) -> str:
    """CSP of every app document: framed only by this shop's admin, scripts only from us and Shopify's CDN.

    ``shop`` must be verified (an ID token's ``dest``) or at least a valid myshopify domain:
    an attacker's ``?shop=`` must never reach a security header.
    """
    if not is_valid_shop_domain(shop):
        raise ValueError("content_security_policy needs a myshopify.com shop")
    return (
        f"frame-ancestors https://{shop.lower()} {ADMIN_ORIGIN}; "
        "script-src 'self' https://cdn.shopify.com; object-src 'none'; base-uri 'none'"
    )
